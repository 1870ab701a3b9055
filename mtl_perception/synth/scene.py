"""Scene model of the synthetic generator: a pinhole camera over a curved multi-lane road.

Geometry lives here (no drawing) so that still images and temporally coherent drives share it:
a still image samples a random ``Scene``; a drive evolves one ``Scene`` with ``step_scene``.
World frame: X right, Y up, Z forward (metres); the camera sits at X=0, Y=cam_height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Class name -> (width, height, length) ranges in metres, used when sampling objects.
VEHICLE_DIMS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((1.65, 1.95), (1.35, 1.65), (3.9, 4.9)),
    "truck": ((2.3, 2.55), (2.6, 3.6), (6.0, 9.0)),
    "bus": ((2.45, 2.6), (2.9, 3.3), (10.0, 12.5)),
}
VEHICLE_WEIGHTS = {"car": 0.7, "truck": 0.17, "bus": 0.13}
BODY_COLORS = np.array(
    [
        (200, 200, 205), (30, 30, 35), (150, 20, 25), (20, 50, 140), (235, 235, 235),
        (90, 95, 100), (170, 130, 40), (40, 100, 60), (120, 120, 130), (200, 170, 20),
    ],
    dtype=np.float32,
)  # RGB


@dataclass
class Camera:
    """Pinhole camera; pixel sizes scale with image width so every resolution looks alike."""

    width: int
    height: int
    focal: float
    horizon: float  # image row of the vanishing line
    cam_height: float

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points -> pixel (u, v)."""
        z = np.maximum(z, 0.1)
        u = self.width / 2 + self.focal * x / z
        return u, self.horizon + self.focal * (self.cam_height - y) / z

    def ground_z(self, v: float) -> float:
        """Distance at which the ground plane appears at image row ``v`` (below the horizon)."""
        return self.focal * self.cam_height / max(v - self.horizon, 1e-3)


@dataclass
class Road:
    """Lanes between boundaries; boundary j sits at ``center(z) + (j - ego - 0.5) * lane_width``."""

    n_lanes: int
    ego: int
    lane_width: float
    offset: float  # lateral offset of the camera from the ego-lane centre (m, + = right)
    heading: float  # slope dX/dZ of the road at the camera
    curvature: float  # d2X/dZ2 (1/m)
    styles: list[str]  # per boundary: "solid" | "dashed"
    colors: list[str]  # per boundary: "white" | "yellow"
    dash_len: float = 3.0
    dash_period: float = 10.0
    dash_phase: float = 0.0  # metres travelled; moves dashes towards the camera in drives
    shoulder: float = 0.6
    z_far: float = 160.0

    def center(self, z: np.ndarray | float) -> np.ndarray:
        """Lateral position of the ego-lane centre at distance ``z``."""
        z = np.asarray(z, dtype=np.float64)
        return -self.offset + self.heading * z + 0.5 * self.curvature * z * z

    def boundary_x(self, j: int, z: np.ndarray | float) -> np.ndarray:
        return self.center(z) + (j - self.ego - 0.5) * self.lane_width

    def lane_x(self, lane: int, z: np.ndarray | float) -> np.ndarray:
        return self.center(z) + (lane - self.ego) * self.lane_width


@dataclass
class Obj:
    """A road user or roadside object; ``lateral`` is relative to the ego-lane centre."""

    category: str
    lateral: float
    z: float
    dims: tuple[float, float, float]  # width, height, length
    color: tuple[float, float, float]
    speed: float = 0.0  # m/s, absolute, along the road
    light: str = "NA"  # traffic light colour: "red" | "yellow" | "green"
    elevation: float = 0.0  # bottom of signs and lights above the ground


@dataclass
class Scene:
    camera: Camera
    road: Road
    objects: list[Obj]
    weather: str
    timeofday: str
    scene_type: str
    ego_speed: float = 12.0
    palette: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # Drive-only smooth-variation parameters (frequencies and phases).
    wave: np.ndarray | None = None


WEATHERS = ("clear", "overcast", "partly cloudy", "rainy", "foggy")
TIMES = ("daytime", "daytime", "daytime", "dawn/dusk", "night")
SCENES = ("highway", "city street", "residential")


def _palette(rng: np.random.Generator, timeofday: str) -> dict[str, tuple[int, int, int]]:
    """Colours (RGB) of sky, ground, road; road stays clearly darker than its markings."""
    asphalt = int(rng.integers(70, 115))
    ground_choices = [(80, 110, 60), (120, 115, 100), (150, 145, 135), (95, 90, 70)]
    g = ground_choices[int(rng.integers(len(ground_choices)))]
    sky = (
        (int(rng.integers(110, 170)), int(rng.integers(150, 200)), int(rng.integers(200, 250)))
        if timeofday != "night"
        else (20, 25, 45)
    )
    return {
        "road": (asphalt, asphalt, asphalt + int(rng.integers(0, 8))),
        "shoulder": (asphalt + 15, asphalt + 15, asphalt + 12),
        "ground": g,
        "sky_top": sky,
        "sky_bottom": (min(255, sky[0] + 60), min(255, sky[1] + 40), min(255, sky[2] + 5)),
        "white": tuple(int(c) for c in rng.integers(205, 250, size=3)),
        "yellow": (int(rng.integers(210, 245)), int(rng.integers(170, 205)), 40),
    }


def sample_camera(rng: np.random.Generator, width: int, height: int) -> Camera:
    return Camera(
        width=width,
        height=height,
        focal=0.78 * width * float(rng.uniform(0.95, 1.05)),
        horizon=height * float(rng.uniform(0.44, 0.52)),
        cam_height=float(rng.uniform(1.35, 1.6)),
    )


def sample_road(rng: np.random.Generator) -> Road:
    n = int(rng.integers(2, 5))
    ego = int(rng.integers(n))
    styles = ["solid"] + [
        "dashed" if rng.random() < 0.8 else "solid" for _ in range(n - 1)
    ] + ["solid"]
    colors = ["white"] * (n + 1)
    if n >= 3 and rng.random() < 0.3:
        colors[0] = "yellow"
    lw = float(rng.uniform(3.2, 3.8))
    return Road(
        n_lanes=n,
        ego=ego,
        lane_width=lw,
        offset=float(rng.uniform(-0.35, 0.35)),
        heading=float(rng.uniform(-0.04, 0.04)),
        curvature=float(rng.choice([0.0, 1.0]) * rng.uniform(-1 / 250, 1 / 250)),
        styles=styles,
        colors=colors,
        dash_len=float(rng.uniform(3.0, 4.5)),
        dash_period=float(rng.uniform(7.5, 10.0)),
        dash_phase=float(rng.uniform(0, 20)),
        shoulder=float(rng.uniform(0.3, 1.2)),
    )


def sample_vehicle(rng: np.random.Generator, road: Road, z: float) -> Obj:
    names = list(VEHICLE_WEIGHTS)
    p = np.array([VEHICLE_WEIGHTS[k] for k in names])
    cat = names[int(rng.choice(len(names), p=p / p.sum()))]
    (w0, w1), (h0, h1), (l0, l1) = VEHICLE_DIMS[cat]
    lane = int(rng.integers(road.n_lanes))
    color = BODY_COLORS[int(rng.integers(len(BODY_COLORS)))]
    speed = float(rng.uniform(8, 20))
    if cat != "car" and rng.random() < 0.5:
        color = np.array((225, 225, 220), dtype=np.float32)
    return Obj(
        category=cat,
        lateral=(lane - road.ego) * road.lane_width + float(rng.uniform(-0.3, 0.3)),
        z=z,
        dims=(float(rng.uniform(w0, w1)), float(rng.uniform(h0, h1)), float(rng.uniform(l0, l1))),
        color=tuple(float(c) * float(rng.uniform(0.85, 1.1)) for c in color),
        speed=speed,
    )


def _roadside_lateral(rng: np.random.Generator, road: Road, margin: tuple[float, float]) -> float:
    """A lateral position beyond the road edge (left or right), relative to the ego centre."""
    right = rng.random() < 0.6
    edge = (road.n_lanes - road.ego - 0.5) * road.lane_width if right else -(road.ego + 0.5) * (
        road.lane_width
    )
    d = road.shoulder + float(rng.uniform(*margin))
    return edge + d if right else edge - d


def sample_roadside(rng: np.random.Generator, road: Road, z: float) -> Obj:
    """Pedestrians, traffic signs and lights: cheap extra classes, so 10-class recipes see them."""
    kind = rng.choice(["pedestrian", "traffic sign", "traffic light"], p=[0.5, 0.3, 0.2])
    if kind == "pedestrian":
        color = tuple(float(c) for c in rng.integers(20, 220, size=3))
        return Obj("pedestrian", _roadside_lateral(rng, road, (0.4, 3.0)), z,
                   (float(rng.uniform(0.45, 0.6)), float(rng.uniform(1.55, 1.9)), 0.4), color,
                   speed=float(rng.uniform(0.5, 1.5)))
    if kind == "traffic sign":
        color = ((200, 30, 30), (30, 80, 190), (230, 200, 40), (40, 140, 60))[int(rng.integers(4))]
        s = float(rng.uniform(0.6, 0.95))
        return Obj("traffic sign", _roadside_lateral(rng, road, (0.5, 2.5)), z, (s, s, 0.05),
                   tuple(float(c) for c in color), elevation=float(rng.uniform(1.8, 2.8)))
    light = str(rng.choice(["red", "yellow", "green"]))
    return Obj("traffic light", _roadside_lateral(rng, road, (0.3, 1.5)), z, (0.4, 1.0, 0.3),
               (25.0, 25.0, 25.0), light=light, elevation=float(rng.uniform(3.0, 4.0)))


def sample_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A random still scene: road, 0-8 vehicles, a few roadside objects, lighting."""
    cam = sample_camera(rng, width, height)
    road = sample_road(rng)
    timeofday = str(rng.choice(TIMES))
    objects: list[Obj] = []
    for _ in range(int(rng.integers(1, 9))):
        # Biased towards the camera: near vehicles are what a driver (and the demo) cares about.
        objects.append(sample_vehicle(rng, road, 6.5 + 60.0 * float(rng.random()) ** 1.3))
    for _ in range(int(rng.integers(0, 4))):
        objects.append(sample_roadside(rng, road, float(rng.uniform(6.0, 60.0))))
    return Scene(
        camera=cam,
        road=road,
        objects=_drop_overlapping(objects),
        weather=str(rng.choice(WEATHERS, p=[0.45, 0.2, 0.15, 0.1, 0.1])),
        timeofday=timeofday,
        scene_type=str(rng.choice(SCENES)),
        palette=_palette(rng, timeofday),
    )


def _drop_overlapping(objects: list[Obj]) -> list[Obj]:
    """Vehicles may not intersect in 3D (same lane, overlapping length): keep the nearer one."""
    kept: list[Obj] = []
    for o in sorted(objects, key=lambda o: o.z):
        clash = any(
            abs(o.lateral - k.lateral) < (o.dims[0] + k.dims[0]) / 2 + 0.2
            and o.z < k.z + k.dims[2] + 1.5
            and k.z < o.z + o.dims[2] + 1.5
            for k in kept
        )
        if not clash:
            kept.append(o)
    return kept


# --- drives -----------------------------------------------------------------------------------

def start_drive(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A scene prepared for ``step_scene``: smooth road-shape waves and moving vehicles."""
    scene = sample_scene(rng, width, height)
    scene.weather = "clear" if scene.weather == "foggy" else scene.weather
    scene.ego_speed = float(rng.uniform(11, 16))
    # Rows: curvature, heading, offset; columns: amplitude, angular frequency, phase.
    scene.wave = np.array(
        [
            [rng.uniform(1 / 500, 1 / 260), rng.uniform(0.08, 0.16), rng.uniform(0, 2 * math.pi)],
            [rng.uniform(0.005, 0.02), rng.uniform(0.1, 0.2), rng.uniform(0, 2 * math.pi)],
            [rng.uniform(0.1, 0.3), rng.uniform(0.2, 0.4), rng.uniform(0, 2 * math.pi)],
        ]
    )
    scene.objects = [o for o in scene.objects if o.category not in VEHICLE_DIMS]
    for _ in range(int(rng.integers(3, 7))):
        scene.objects.append(sample_vehicle(rng, scene.road, float(rng.uniform(8, 60))))
    scene.objects = _drop_overlapping(scene.objects)
    step_scene(scene, 0.0, 0.0, rng)
    return scene


def step_scene(scene: Scene, t: float, dt: float, rng: np.random.Generator) -> None:
    """Advance a drive to time ``t``: the road shape follows smooth waves; objects move."""
    road = scene.road
    assert scene.wave is not None, "step_scene needs a scene from start_drive"
    (ak, wk, pk), (ah, wh, ph), (ao, wo, po) = scene.wave
    road.curvature = float(ak * math.sin(wk * t + pk))
    road.heading = float(ah * math.sin(wh * t + ph))
    road.offset = float(ao * math.sin(wo * t + po))
    road.dash_phase += scene.ego_speed * dt
    survivors: list[Obj] = []
    for o in scene.objects:
        if o.category in VEHICLE_DIMS and abs(o.lateral) < road.lane_width / 2 and o.z < 18:
            o.speed = max(o.speed, scene.ego_speed + 0.5)  # the ego car keeps its distance
        rel = (o.speed - scene.ego_speed) if o.category in VEHICLE_DIMS else -scene.ego_speed
        o.z += rel * dt
        if o.category == "pedestrian":
            o.z += o.speed * dt * 0.3
        if 4.0 < o.z < 95.0:
            survivors.append(o)
    # Keep the traffic density roughly constant: respawn far ahead (or just behind, if faster).
    n_vehicles = sum(o.category in VEHICLE_DIMS for o in survivors)
    while n_vehicles < 4 and dt > 0:
        v = sample_vehicle(rng, road, float(rng.uniform(70, 90)))
        v.speed = min(v.speed, scene.ego_speed - 1.0)  # far ones approach, so they become visible
        if not _drop_overlapping([*survivors, v]).__contains__(v):
            break
        survivors.append(v)
        n_vehicles += 1
    n_side = sum(o.category not in VEHICLE_DIMS for o in survivors)
    if n_side < 2 and dt > 0 and rng.random() < 0.05:
        survivors.append(sample_roadside(rng, road, float(rng.uniform(60, 90))))
    scene.objects = survivors
