"""What the plain and the managed (lifecycle) perception node share.

:class:`PerceptionCore` owns the parameters, the backend, the cameras and the worker, in the
lifecycle's steps: :meth:`configure` validates parameters and loads the model, :meth:`activate`
creates the topics and starts the worker, :meth:`deactivate` stops the worker and removes the
topics (no frames held, no timers: no CPU), :meth:`cleanup` releases the backend. The plain
node runs configure and activate in its constructor; ``lifecycle_node`` maps them onto
``rclpy.lifecycle`` transitions. See docs/parameters.md for topics and parameters.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.parameter import Parameter
from std_msgs.msg import Header
from vision_msgs.msg import LabelInfo

from mtl_perception.common.errors import MtlError
from mtl_perception.inference.backends import BackendError
from mtl_perception.inference.pipeline import Pipeline
from mtl_perception.inference.postprocess import Thresholds, resolve_classes
from mtl_perception.ros import image_cdr
from mtl_perception.ros.batch_worker import BatchWorker
from mtl_perception.ros.camera_streams import CameraStream, Frame, Settings, camera_problem
from mtl_perception.ros.conversion import (
    VisionMsgsLayoutError,
    check_vision_msgs_layout,
    label_info_msg,
)
from mtl_perception.ros.detections_cdr import matches_rclpy_serializer
from mtl_perception.ros.frame_slot import SlotGroup
from mtl_perception.ros.parameters import PARAMS, choice_problem, descriptor
from mtl_perception.ros.qos import latched_qos, make_qos

CHOICE_PARAMS = ("backend", "precision", "onnxruntime_spinning", "input_transport",
                 "input_qos_reliability", "output_qos_reliability")
FIXED = frozenset(p.name for p in PARAMS if p.read_only)


class StartupError(MtlError, RuntimeError):
    """The node cannot start; the message is the one line shown to the user."""


class PerceptionCore:
    """Parameters, backend, cameras and worker of one perception node.

    ``managed``: the lifecycle node declares the start-time parameters writable and refuses
    changes to them only while configured, so a bad one can be fixed and configure retried.
    ``loader``: ``load_backend``'s signature (the node module's, so tests can wrap it).
    """

    def __init__(self, node: Any, loader: Callable[..., Any], managed: bool = False) -> None:
        self.node = node
        self._loader = loader
        self.managed = managed
        self.pipeline: Pipeline | None = None
        self.worker: BatchWorker | None = None
        self.streams: list[CameraStream] = []
        self._entities: list[Any] = []
        for spec in PARAMS:
            default = Parameter.Type.STRING_ARRAY if spec.default is None else spec.default
            try:
                node.declare_parameter(spec.name, default,
                                       descriptor(spec, read_only=spec.read_only and not managed))
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                # e.g. `-p onnxruntime_threads:=two`, or YAML reading `off` as a boolean
                raise StartupError(f"parameter {spec.name}: {exc} (see docs/parameters.md)"
                                   ) from exc
        node.add_on_set_parameters_callback(self._on_set_parameters)

    def param(self, name: str) -> Any:
        try:
            return self.node.get_parameter(name).value
        except rclpy.exceptions.ParameterUninitializedException:
            return None

    @property
    def cameras(self) -> list[str]:
        return list(self.param("cameras") or [])

    # ----- configure / cleanup -------------------------------------------------------------
    def configure(self) -> None:
        """Validate the parameters and load the model; StartupError with one line if not."""
        log = self.node.get_logger()
        for name in CHOICE_PARAMS:
            problem = choice_problem(name, self.param(name))
            if problem:
                raise StartupError(problem)
        cameras = self.cameras
        problem = camera_problem(cameras)
        if problem:
            raise StartupError(problem)
        try:
            check_vision_msgs_layout()
            backend = self._loader(
                self.param("model_path"), self.param("backend"), logger=log,
                cache_dir=self.param("engine_cache_dir") or None,
                precision=self.param("precision"),
                intra_op_threads=int(self.param("onnxruntime_threads")),
                onnxruntime_spinning=str(self.param("onnxruntime_spinning")),
                max_batch=max(1, len(cameras)))
            self.backend_name = backend.name
            self.pipeline = Pipeline(backend, conf=self.param("confidence_threshold"),
                                     iou=self.param("nms_iou_threshold"),
                                     max_det=self.param("max_detections"),
                                     classes=self.param("classes") or None)
        except (BackendError, VisionMsgsLayoutError, ValueError) as exc:
            self.cleanup()
            raise StartupError(str(exc)) from exc
        serialized = matches_rclpy_serializer()
        if not serialized:
            log.warning("this rmw/vision_msgs does not read back mtl_perception's serialized "
                        "Detection2DArray; publishing message objects instead (slower)")
        raw_images = image_cdr.matches_rclpy_serializer()
        if not raw_images:
            log.warning("this rmw serializes sensor_msgs/Image unlike mtl_perception's reader; "
                        "taking message objects instead (slower)")
        self.settings = Settings(bool(self.param("publish_overlay")),
                                 int(self.param("max_image_pixels")),
                                 float(self.param("warn_throttle_sec")), serialized, log,
                                 raw_images)
        names = cameras or [""]
        self.group: SlotGroup[Frame] = SlotGroup(len(names))
        self.streams = [CameraStream(n, slot, self.settings, handoff=len(names) == 1)
                        for n, slot in zip(names, self.group.slots)]
        self.worker = BatchWorker(self.pipeline, self.streams, self.group, self.settings,
                                  lambda: rclpy.ok(context=self.node.context))
        if len(cameras) > 1 and self.pipeline.max_batch == 1:
            log.warning(f"{len(cameras)} cameras, but the model has a fixed batch of 1: their "
                        "frames run one after another (export with mtl-export --dynamic to "
                        "batch them)")
        elif len(cameras) > 1:
            log.info(f"{len(cameras)} cameras: waiting frames run as one batch of up to "
                     f"{self.worker.limit}, on {self.worker.threads} worker thread(s)")

    def cleanup(self) -> None:
        """Release the backend (after deactivate); safe to call twice."""
        self.deactivate()
        if self.pipeline is not None:
            self.pipeline.close()
        self.pipeline, self.worker, self.streams = None, None, []

    # ----- activate / deactivate -----------------------------------------------------------
    def activate(self) -> None:
        assert self.pipeline is not None and self.worker is not None, "configure first"
        node = self.node
        in_qos = make_qos(self.param("input_qos_reliability"), self.param("input_qos_depth"))
        out_qos = make_qos(self.param("output_qos_reliability"), self.param("output_qos_depth"))
        self.pub_labels = node.create_publisher(LabelInfo, "label_info", latched_qos())
        self.pub_diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.timer = node.create_timer(float(self.param("diagnostics_period")),
                                       self.publish_diagnostics)
        self._entities = [self.pub_labels, self.pub_diagnostics, self.timer]
        self.worker.start()
        for stream in self.streams:
            stream.open(node, self.param("input_transport"), in_qos, out_qos)
        self.publish_labels()
        spec = self.pipeline.spec
        topics = ", ".join(s.sub.topic_name for s in self.streams)
        node.get_logger().info(
            f"{self.backend_name} model {spec.recipe_name or '?'} "
            f"{spec.input_height}x{spec.input_width}, {len(spec.detection_classes)} classes; "
            f"listening on {topics} ({self.param('input_qos_reliability')}, "
            f"depth {self.param('input_qos_depth')})")

    @property
    def active(self) -> bool:
        return bool(self._entities)

    def deactivate(self) -> None:
        """Unsubscribe, stop the worker, drop waiting frames, remove publishers and timer."""
        if not self._entities:
            return
        for stream in self.streams:
            stream.close_subscription(self.node)
        if self.worker is not None:
            self.worker.stop()
        for stream in self.streams:
            stream.close(self.node)
        for entity in self._entities:
            if entity is self.timer:
                self.node.destroy_timer(entity)
            else:
                self.node.destroy_publisher(entity)
        self._entities = []

    def publish_labels(self) -> None:
        assert self.pipeline is not None
        header = Header(frame_id="")
        header.stamp = self.node.get_clock().now().to_msg()
        self.pub_labels.publish(label_info_msg(header, self.pipeline.class_names,
                                               self.pipeline.thresholds.confidence))

    def publish_diagnostics(self) -> None:
        if self.pipeline is None or self.worker is None:
            return
        t = self.pipeline.thresholds
        extra = {"backend": self.backend_name, "model": str(self.param("model_path")),
                 "confidence_threshold": f"{t.confidence:g}",
                 "nms_iou_threshold": f"{t.iou:g}", "max_detections": str(t.max_detections)}
        name, full = self.node.get_name(), self.node.get_fully_qualified_name()
        array = DiagnosticArray()
        array.status = [s.status(name, full, extra) for s in self.streams]
        if self.cameras:
            array.status.append(self.worker.batches.status(
                f"{name}: backend", f"{full}/backend",
                {"backend": self.backend_name, "max_batch": str(self.worker.limit),
                 "worker_threads": str(self.worker.threads),
                 "cameras": str(len(self.streams))}))
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.pub_diagnostics.publish(array)

    # ----- run-time parameters --------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate all changes together; apply them only if every one is acceptable."""
        values = {p.name: p.value for p in params}
        if self.pipeline is None:  # unconfigured (managed node): configure validates them
            return SetParametersResult(successful=True)
        fixed = sorted(FIXED & set(values))
        if fixed:  # only reachable for the managed node: the plain one declares them read-only
            reason = f"{', '.join(fixed)} can change only while unconfigured (cleanup first)"
            return SetParametersResult(successful=False, reason=reason)
        current = self.pipeline.thresholds
        try:
            classes = current.classes
            if "classes" in values:
                classes = resolve_classes(values["classes"] or None,
                                          self.pipeline.class_names)
            new = Thresholds(
                confidence=float(values.get("confidence_threshold", current.confidence)),
                iou=float(values.get("nms_iou_threshold", current.iou)),
                max_detections=int(values.get("max_detections", current.max_detections)),
                classes=classes,
            )
        except (TypeError, ValueError) as exc:
            self.node.get_logger().warning(f"parameter change rejected: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        self.pipeline.thresholds = new
        s = self.settings
        s.publish_overlay = bool(values.get("publish_overlay", s.publish_overlay))
        s.max_pixels = int(values.get("max_image_pixels", s.max_pixels))
        s.throttle_s = float(values.get("warn_throttle_sec", s.throttle_s))
        if new.confidence != current.confidence and self.active:
            self.publish_labels()
        return SetParametersResult(successful=True)


def say(prog: str, text: str) -> None:
    print(f"[{prog}] {text}", file=sys.stderr, flush=True)
