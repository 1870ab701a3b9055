"""The perception node: camera frames in; detections, masks, overlay and diagnostics out.

The subscription callback only decodes a frame and drops it into a one-frame slot; a worker
thread runs the model on the newest frame and publishes with the input's header. See
docs/parameters.md for topics and parameters.

Hand-off: when the worker is idle, the callback waits until the worker has pre-processed the
frame (under a millisecond, bounded by ``HANDOFF_TIMEOUT_S``) before returning. rclpy's
executor then does its per-callback bookkeeping while the backend runs without the GIL,
instead of holding the GIL while the worker waits to start (docs/benchmarks.md, node table).
When the worker is busy, the callback returns at once, as before.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from mtl_perception.dds_env import apply_profile
from mtl_perception.inference.backends import BackendError, load_backend
from mtl_perception.inference.encodings import DecodedImage, FrameRejectedError
from mtl_perception.inference.overlay import draw_overlay
from mtl_perception.inference.pipeline import Pipeline
from mtl_perception.inference.postprocess import Thresholds, resolve_classes
from mtl_perception.ros.conversion import (
    ImageFiller,
    VisionMsgsLayoutError,
    check_vision_msgs_layout,
    compressed_to_array,
    detections_to_msg,
    image_to_array,
    label_info_msg,
)
from mtl_perception.ros.detections_cdr import encode_detections, matches_rclpy_serializer
from mtl_perception.ros.diagnostics import StageStats, build_status
from mtl_perception.ros.frame_slot import LatestFrameSlot
from mtl_perception.ros.parameters import PARAMS, choice_problem, descriptor
from mtl_perception.ros.qos import latched_qos, make_qos
from mtl_perception.ros.ros_args import split_ros_args
from mtl_perception.ros.shutdown import ShutdownSignals

NODE_NAME = "perception"
HANDOFF_TIMEOUT_S = 0.05


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line shown to the user."""


@dataclass
class Frame:
    """A decoded frame waiting for the worker."""

    header: Header
    image: DecodedImage
    received: float  # perf_counter when the callback started
    decoded: float  # perf_counter when it entered the slot
    started: threading.Event  # set once the worker is about to run the backend on it


class PerceptionNode(Node):
    """Multi-task perception on one camera stream (importable for tests and composition)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        try:
            self._setup()
        except BaseException:  # a startup error, or Ctrl-C while the model loads
            self.destroy_node()
            raise

    # ----- setup -------------------------------------------------------------------------
    def _setup(self) -> None:
        for spec in PARAMS:
            default = Parameter.Type.STRING_ARRAY if spec.default is None else spec.default
            try:
                self.declare_parameter(spec.name, default, descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                # e.g. `-p onnxruntime_threads:=two`, or YAML reading `off` as a boolean
                raise StartupError(f"parameter {spec.name}: {exc} (see docs/parameters.md)"
                                   ) from exc
        try:
            check_vision_msgs_layout()
            self.pipeline = self._create_pipeline()
        except (BackendError, VisionMsgsLayoutError, ValueError) as exc:
            raise StartupError(str(exc)) from exc
        self.stats = StageStats()
        self.slot: LatestFrameSlot[Frame] = LatestFrameSlot()
        self._warned: dict[str, float] = {}
        self._publish_overlay = bool(self._param("publish_overlay"))
        self._max_pixels = int(self._param("max_image_pixels"))
        self._throttle = float(self._param("warn_throttle_sec"))
        self._fillers = {k: ImageFiller() for k in ("drivable", "lane", "overlay")}
        self._serialized_detections = matches_rclpy_serializer()
        if not self._serialized_detections:
            self.get_logger().warning(
                "this rmw/vision_msgs does not read back mtl_perception's serialized "
                "Detection2DArray; publishing message objects instead (slower)")
        self._create_topics()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="perception_worker", daemon=True)
        self._worker.start()

    def _param(self, name: str) -> Any:
        try:
            return self.get_parameter(name).value
        except rclpy.exceptions.ParameterUninitializedException:
            return None

    def _create_pipeline(self) -> Pipeline:
        for name in ("backend", "precision", "onnxruntime_spinning", "input_transport",
                     "input_qos_reliability", "output_qos_reliability"):
            problem = choice_problem(name, self._param(name))
            if problem:
                raise ValueError(problem)
        backend = load_backend(
            self._param("model_path"),
            self._param("backend"),
            logger=self.get_logger(),
            cache_dir=self._param("engine_cache_dir") or None,
            precision=self._param("precision"),
            intra_op_threads=int(self._param("onnxruntime_threads")),
            onnxruntime_spinning=str(self._param("onnxruntime_spinning")),
        )
        self.backend_name = backend.name
        return Pipeline(
            backend,
            conf=self._param("confidence_threshold"),
            iou=self._param("nms_iou_threshold"),
            max_det=self._param("max_detections"),
            classes=self._param("classes") or None,
        )

    def _create_topics(self) -> None:
        in_qos = make_qos(self._param("input_qos_reliability"), self._param("input_qos_depth"))
        out_qos = make_qos(self._param("output_qos_reliability"), self._param("output_qos_depth"))
        self.pub_detections = self.create_publisher(Detection2DArray, "detections", out_qos)
        self.pub_drivable = self.create_publisher(Image, "drivable_area/mask", out_qos)
        self.pub_lane = self.create_publisher(Image, "lane/mask", out_qos)
        self.pub_overlay = self.create_publisher(Image, "overlay", out_qos)
        self.pub_labels = self.create_publisher(LabelInfo, "label_info", latched_qos())
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self._param("input_transport") == "compressed":
            # image_transport naming: remapping 'image' moves the compressed topic with it.
            topic = self.resolve_topic_name("image") + "/compressed"
            self.sub = self.create_subscription(CompressedImage, topic, self._on_compressed,
                                                in_qos)
        else:
            self.sub = self.create_subscription(Image, "image", self._on_image, in_qos)
        self._publish_labels()
        period = float(self._param("diagnostics_period"))
        self.create_timer(period, self._publish_diagnostics)
        spec = self.pipeline.spec
        self.get_logger().info(
            f"{self.backend_name} model {spec.recipe_name or '?'} "
            f"{spec.input_height}x{spec.input_width}, {len(spec.detection_classes)} classes; "
            f"listening on {self.sub.topic_name} ({self._param('input_qos_reliability')}, "
            f"depth {self._param('input_qos_depth')})"
        )

    def _publish_labels(self) -> None:
        header = Header(frame_id="")
        header.stamp = self.get_clock().now().to_msg()
        self.pub_labels.publish(label_info_msg(header, self.pipeline.class_names,
                                               self.pipeline.thresholds.confidence))

    # ----- input: the callback only converts and drops into the slot ---------------------
    def _on_image(self, msg: Image) -> None:
        self._accept(msg.header, lambda: image_to_array(msg, self._max_pixels))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._accept(msg.header, lambda: compressed_to_array(msg, self._max_pixels))

    def _accept(self, header: Header, convert: Any) -> None:
        received = time.perf_counter()
        self.stats.received += 1
        try:
            image = convert()
        except FrameRejectedError as exc:
            self.stats.reject(exc.reason)
            self._warn(exc.reason, f"rejected frame {_stamp(header)}: {exc}")
            return
        idle = self.slot.taker_waiting
        frame = Frame(header, image, received, time.perf_counter(), threading.Event())
        self.slot.put(frame)
        if idle:
            frame.started.wait(HANDOFF_TIMEOUT_S)

    def _warn(self, key: str, text: str) -> None:
        """A warning at most once per ``warn_throttle_sec`` for each kind of problem."""
        now = time.monotonic()
        if now - self._warned.get(key, -1e9) >= self._throttle:
            self._warned[key] = now
            self.get_logger().warning(text)

    # ----- worker --------------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            frame = self.slot.take(timeout=0.5)
            if frame is not None:
                try:
                    self._process(frame)
                finally:
                    frame.started.set()  # never leave the callback waiting

    def _process(self, frame: Frame) -> None:
        start = time.perf_counter()
        try:
            result = self.pipeline.process(frame.image.pixels, frame.image.color,
                                           self._mask_buffers, frame.started.set)
        except Exception as exc:  # one bad inference must not stop the node
            self.stats.fail()
            self._warn("inference", f"inference failed on frame {_stamp(frame.header)}: "
                                    f"{type(exc).__name__}: {exc}")
            return
        published = time.perf_counter()
        try:
            header = frame.header
            if self._serialized_detections:  # same message, ~10x cheaper (detections_cdr)
                self.pub_detections.publish(encode_detections(header, result.detections))
            else:
                self.pub_detections.publish(detections_to_msg(header, result.detections))
            self.pub_drivable.publish(self._fillers["drivable"].fill(header, result.drivable,
                                                                     "mono8"))
            self.pub_lane.publish(self._fillers["lane"].fill(header, result.lane, "mono8"))
            if self._publish_overlay and self.pub_overlay.get_subscription_count() > 0:
                picture = draw_overlay(frame.image.bgr(), result.detections, result.drivable,
                                       result.lane)
                self.pub_overlay.publish(self._fillers["overlay"].fill(header, picture, "bgr8"))
        except Exception as exc:
            if not self._running or not rclpy.ok(context=self.context):
                return
            self.stats.fail()
            self._warn("publish", f"publishing failed: {type(exc).__name__}: {exc}")
            return
        done = time.perf_counter()
        timings = {
            "decode": (frame.decoded - frame.received) * 1e3,
            "queue": (start - frame.decoded) * 1e3,
            "preprocess": result.timings_ms["preprocess"],
            "inference": result.timings_ms["inference"],
            "postprocess": result.timings_ms["postprocess"],
            "publish": (done - published) * 1e3,
            "end_to_end": (done - frame.received) * 1e3,
        }
        timings["overhead"] = timings["end_to_end"] - timings["inference"]
        self.stats.record(timings)

    def _mask_buffers(self, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The drivable and lane messages' own buffers: masks are resized straight into them."""
        return (self._fillers["drivable"].view(*hw), self._fillers["lane"].view(*hw))

    def _publish_diagnostics(self) -> None:
        t = self.pipeline.thresholds
        extra = {"backend": self.backend_name, "model": str(self._param("model_path")),
                 "confidence_threshold": f"{t.confidence:g}",
                 "nms_iou_threshold": f"{t.iou:g}", "max_detections": str(t.max_detections)}
        array = build_status(f"{self.get_name()}: perception", self.get_fully_qualified_name(),
                             self.stats, self.slot.dropped, extra)
        array.header.stamp = self.get_clock().now().to_msg()
        self.pub_diagnostics.publish(array)

    # ----- run-time parameters --------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate all changes together; apply them only if every one is acceptable."""
        values = {p.name: p.value for p in params}
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
            self.get_logger().warning(f"parameter change rejected: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        self.pipeline.thresholds = new
        self._publish_overlay = bool(values.get("publish_overlay", self._publish_overlay))
        self._max_pixels = int(values.get("max_image_pixels", self._max_pixels))
        self._throttle = float(values.get("warn_throttle_sec", self._throttle))
        if new.confidence != current.confidence:
            self._publish_labels()
        return SetParametersResult(successful=True)

    def destroy_node(self) -> None:
        """Stop the worker before the publishers go away (also after a failed __init__)."""
        self._running = False
        if hasattr(self, "slot"):
            self.slot.close()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=5.0)
        if hasattr(self, "pipeline"):
            self.pipeline.close()
        super().destroy_node()


def _stamp(header: Header) -> str:
    return f"{header.frame_id or '<no frame_id>'}@{header.stamp.sec}.{header.stamp.nanosec:09d}"


def main(args: list[str] | None = None) -> int:
    """rclpy demo pattern: init, create, spin, handle shutdown, destroy, try_shutdown.

    ``args``: the command line without the program name (default ``sys.argv[1:]``); rclpy
    gets only its ``--ros-args`` sections. Exits 0 on SIGINT or SIGTERM, however many arrive
    and whenever (also during model loading): see mtl_perception/ros/shutdown.py.
    """
    own, ros = split_ros_args(sys.argv[1:] if args is None else args)
    signals = ShutdownSignals().install()  # before rclpy.init, so rclpy's handler chains to it
    node: PerceptionNode | None = None
    code = 0
    try:
        if own:
            print(f"[perception_node] ignoring arguments outside --ros-args: {' '.join(own)}",
                  file=sys.stderr, flush=True)
        apply_profile(os.environ)  # before rclpy.init: Fast DDS reads it at participant start
        rclpy.init(args=ros, signal_handler_options=SignalHandlerOptions.ALL)
        node = PerceptionNode()
        rclpy.spin(node)
    except StartupError as exc:
        if not signals.interrupted:  # Ctrl-C while loading the model is not a startup error
            print(f"[perception_node] cannot start: {exc}", file=sys.stderr, flush=True)
            code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not signals.interrupted:  # else: the interrupt, converted by rclpy's C++ layer
            raise
    finally:
        signals.disarm()  # ignore SIGINT/SIGTERM: teardown and exit run to the end
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
