"""Drawing helpers of the synthetic generator: road, markings, vehicles, roadside objects.

Everything draws into an RGB canvas with OpenCV polygon fills (fast), and objects also into an
instance-id buffer, so the generator can measure each object's *visible* extent and occlusion
instead of guessing it.
"""

from __future__ import annotations

import cv2
import numpy as np

from mtl_perception.synth.scene import VEHICLE_DIMS, Obj, Scene

BDD_DIRECT, BDD_ALTERNATIVE, BDD_BACKGROUND = 0, 1, 2


def _poly(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> an int32 polygon for cv2 (coordinates clamped to stay sane)."""
    pts = np.stack([np.clip(u, -1e5, 1e5), np.clip(v, -1e5, 1e5)], axis=-1)
    return np.round(pts).astype(np.int32).reshape(-1, 1, 2)


def _shade(color: tuple[float, ...], k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * k))) for c in color[:3])  # type: ignore[return-value]


def label_width(width: int) -> float:
    """BDD's lane-mask width convention: 8 px at 1280 wide, scaled with the image."""
    return 8.0 * width / 1280.0


def draw_background(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Sky gradient, ground, and unlabeled distractors (buildings, trees) along the horizon."""
    cam, pal = scene.camera, scene.palette
    h, w = img.shape[:2]
    yh = round(cam.horizon)
    t = np.linspace(0.0, 1.0, max(yh, 1), dtype=np.float32)[:, None]
    top, bottom = np.array(pal["sky_top"], np.float32), np.array(pal["sky_bottom"], np.float32)
    column = ((1 - t) * top + t * bottom).astype(np.uint8)[:, None, :]
    if yh > 0:  # cv2 fills are ~10x faster than numpy broadcasting into 3-byte pixels
        cv2.resize(column, (w, yh), dst=img[:yh], interpolation=cv2.INTER_NEAREST)
    cv2.rectangle(img, (0, yh), (w, h), pal["ground"], -1)
    n = int(rng.integers(3, 12)) if scene.scene_type != "highway" else int(rng.integers(0, 5))
    for _ in range(n):
        bw = w * float(rng.uniform(0.04, 0.2))
        bh = h * float(rng.uniform(0.03, 0.25))
        x0 = float(rng.uniform(-0.1, 1.0)) * w
        base = yh + h * float(rng.uniform(0.0, 0.03))
        col = tuple(int(c) for c in rng.integers(60, 200, size=3))
        if rng.random() < 0.35:  # tree
            cv2.ellipse(img, (int(x0), int(base - bh / 2)), (int(bw / 3), int(bh / 2)), 0, 0, 360,
                        (40, int(rng.integers(80, 140)), 40), -1)
        else:
            cv2.rectangle(img, (int(x0), int(base - bh)), (int(x0 + bw), int(base)), col, -1)


def road_samples(scene: Scene, n: int = 48, z_far: float | None = None) -> np.ndarray:
    """Distances from just below the image bottom to the far end, denser near the camera."""
    cam = scene.camera
    z_near = cam.ground_z(cam.height * 1.15)
    return np.geomspace(z_near, z_far or scene.road.z_far, n)


def draw_road(img: np.ndarray, drivable: np.ndarray, scene: Scene) -> None:
    """Asphalt and shoulders; drivable mask in BDD ids: ego lane direct, others alternative."""
    cam, road, pal = scene.camera, scene.road, scene.palette
    zs = road_samples(scene)
    _, v = cam.project(np.zeros_like(zs), np.zeros_like(zs), zs)

    def edge(j: int, extra: float = 0.0) -> np.ndarray:
        return cam.project(road.boundary_x(j, zs) + extra, np.zeros_like(zs), zs)[0]

    left, right = edge(0, -road.shoulder), edge(road.n_lanes, road.shoulder)
    outer = _poly(np.concatenate([left, right[::-1]]), np.concatenate([v, v[::-1]]))
    cv2.fillPoly(img, [outer], pal["shoulder"])
    l0, r0 = edge(0), edge(road.n_lanes)
    lanes_poly = _poly(np.concatenate([l0, r0[::-1]]), np.concatenate([v, v[::-1]]))
    cv2.fillPoly(img, [lanes_poly], pal["road"])
    cv2.fillPoly(drivable, [lanes_poly], BDD_ALTERNATIVE)
    le, re = edge(road.ego), edge(road.ego + 1)
    ego_poly = _poly(np.concatenate([le, re[::-1]]), np.concatenate([v, v[::-1]]))
    cv2.fillPoly(drivable, [ego_poly], BDD_DIRECT)


def draw_markings(img: np.ndarray, scene: Scene) -> None:
    """Painted lines: solid strips, or dashes placed in world coordinates (they move in drives)."""
    cam, road, pal = scene.camera, scene.road, scene.palette
    max_w = 1.2 * label_width(cam.width)
    min_w = max(1.0, 0.15 * label_width(cam.width))
    polys: dict[str, list[np.ndarray]] = {"white": [], "yellow": []}
    z_near, z_far = road_samples(scene, 2, 110.0)

    def strip(j: int, zs: np.ndarray) -> np.ndarray:
        x = road.boundary_x(j, zs)
        u, v = cam.project(x, np.zeros_like(zs), zs)
        hw = np.clip(0.13 * cam.focal / zs, min_w, max_w) / 2
        return _poly(np.concatenate([u - hw, (u + hw)[::-1]]), np.concatenate([v, v[::-1]]))

    for j in range(road.n_lanes + 1):
        if road.styles[j] == "solid":
            polys[road.colors[j]].append(strip(j, np.geomspace(z_near, z_far, 40)))
            continue
        p, d = road.dash_period, road.dash_len
        k0 = int(np.floor((z_near + road.dash_phase) / p))
        k1 = int(np.ceil((z_far + road.dash_phase) / p))
        for k in range(k0, k1 + 1):
            a = max(k * p - road.dash_phase, z_near)
            b = min(k * p + d - road.dash_phase, z_far)
            if b > a:
                polys[road.colors[j]].append(strip(j, np.linspace(a, b, 4)))
    for color, ps in polys.items():
        if ps:
            cv2.fillPoly(img, ps, pal[color])


def lane_polylines(scene: Scene, ids: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Visible runs of each boundary's centre line (in-image, not behind an object).

    Returns (vertices [N, 2] float, boundary index) pairs; the lane labels are these polylines,
    rasterized with a fixed width by the loader, as BDD100K's own masks are.
    """
    cam, road = scene.camera, scene.road
    h, w = ids.shape
    z_near = cam.ground_z(h - 0.5)
    zs = np.geomspace(z_near, 90.0, 120)
    out: list[tuple[np.ndarray, int]] = []
    for j in range(road.n_lanes + 1):
        u, v = cam.project(road.boundary_x(j, zs), np.zeros_like(zs), zs)
        inside = (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        ok = inside.copy()
        ui = np.clip(np.round(u), 0, w - 1).astype(np.int64)
        vi = np.clip(np.round(v), 0, h - 1).astype(np.int64)
        ok &= ids[vi, ui] == 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
        for s, e in zip(edges[::2], edges[1::2], strict=True):
            pts = np.stack([u[s:e], v[s:e]], axis=1)
            if len(pts) < 2 or np.linalg.norm(pts[-1] - pts[0]) < 0.008 * w:
                continue
            keep = np.unique(np.round(np.linspace(0, len(pts) - 1, min(len(pts), 14))).astype(int))
            out.append((pts[keep], j))
    return out


# --- objects ----------------------------------------------------------------------------------

_CAR_PROFILE = ((-0.5, 0.0), (0.5, 0.0), (0.5, 0.55), (0.38, 1.0), (-0.38, 1.0), (-0.5, 0.55))
_BOX_PROFILE = ((-0.5, 0.0), (0.5, 0.0), (0.5, 1.0), (-0.5, 1.0))


def _vehicle(img: np.ndarray, ids: np.ndarray, k: int, scene: Scene, o: Obj) -> np.ndarray:
    """A 2.5D vehicle: shadow, side/top hull, rear face with windows, lights, plate, wheels."""
    cam, road = scene.camera, scene.road
    w, h, length = o.dims
    clear = 0.28
    xr = float(road.center(o.z)) + o.lateral
    xf = float(road.center(o.z + length)) + o.lateral
    profile = _CAR_PROFILE if o.category == "car" else _BOX_PROFILE
    px = np.array([p[0] for p in profile]) * w
    py = clear + np.array([p[1] for p in profile]) * (h - clear)
    ur, vr = cam.project(xr + px, py, np.full_like(px, o.z))
    uf, vf = cam.project(xf + px, py, np.full_like(px, o.z + length))
    # Shadow on the road (image only).
    gx = np.array([-0.55, 0.55, 0.55, -0.55]) * w
    gz = np.array([o.z - 0.2, o.z - 0.2, o.z + length, o.z + length])
    gu, gv = cam.project(np.array([xr, xr, xf, xf]) + gx, np.zeros(4), gz)
    cv2.fillPoly(img, [_poly(gu, gv)], _shade(scene.palette["road"], 0.45))
    hull = cv2.convexHull(_poly(np.concatenate([ur, uf]), np.concatenate([vr, vf])))
    s = cam.focal / o.z
    u0, v0 = cam.width / 2 + s * xr, cam.horizon + s * cam.cam_height

    def rect(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Rear-face rectangle in metres (x across, y up) -> pixel polygon."""
        return _poly(u0 + s * np.array([x0, x1, x1, x0]), v0 - s * np.array([y0, y0, y1, y1]))

    wheels = [rect(-0.48 * w, -0.3 * w, 0.0, 0.45), rect(0.3 * w, 0.48 * w, 0.0, 0.45)]
    under = rect(-0.45 * w, 0.45 * w, 0.0, clear + 0.02)  # dark underbody between the wheels
    cv2.fillPoly(img, [under], (28, 28, 30))
    cv2.fillPoly(img, wheels, (18, 18, 18))
    cv2.fillPoly(ids, [under, *wheels, hull], k)
    cv2.fillPoly(img, [hull], _shade(o.color, 0.62))
    rear = _poly(ur, vr)
    cv2.fillPoly(img, [rear], _shade(o.color, 1.0))
    cv2.polylines(img, [rear], True, _shade(o.color, 0.45), max(1, int(s * 0.04)))
    night = scene.timeofday == "night"
    lamp = (255, 40, 30) if night else (190, 25, 25)
    if o.category == "car":
        window = _poly(u0 + s * np.array([-0.44, 0.44, 0.34, -0.34]) * w,
                       v0 - s * (clear + np.array([0.6, 0.6, 0.93, 0.93]) * (h - clear)))
        cv2.fillPoly(img, [window], (45, 52, 62))
        ly0, ly1 = clear + 0.4 * (h - clear), clear + 0.55 * (h - clear)
    elif o.category == "bus":
        cv2.fillPoly(img, [rect(-0.42 * w, 0.42 * w, 0.62 * h, 0.88 * h)], (40, 48, 58))
        ly0, ly1 = 0.2 * h, 0.3 * h
    else:  # truck: cargo box with door seams
        cv2.line(img, (int(u0), int(v0 - s * clear)), (int(u0), int(v0 - s * h)),
                 _shade(o.color, 0.55), max(1, int(s * 0.05)))
        ly0, ly1 = clear + 0.05, clear + 0.3
    cv2.fillPoly(img, [rect(-0.49 * w, -0.36 * w, ly0, ly1), rect(0.36 * w, 0.49 * w, ly0, ly1)],
                 lamp)
    cv2.fillPoly(img, [rect(-0.12 * w, 0.12 * w, clear + 0.05, clear + 0.2)], (215, 215, 200))
    return _bbox(np.concatenate([ur, uf]), np.concatenate([vr, vf]), wheels)


def _bbox(u: np.ndarray, v: np.ndarray, extra: list[np.ndarray]) -> np.ndarray:
    """Extent of projected points plus extra int polygons, as x1, y1, x2, y2."""
    pts = np.concatenate([np.stack([u, v], 1), *[e.reshape(-1, 2) for e in extra]])
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])


def _pedestrian(img: np.ndarray, ids: np.ndarray, k: int, scene: Scene, o: Obj) -> np.ndarray:
    cam, road = scene.camera, scene.road
    w, h, _ = o.dims
    s = cam.focal / o.z
    u0 = cam.width / 2 + s * (float(road.center(o.z)) + o.lateral)
    v0 = cam.horizon + s * cam.cam_height

    def rect(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return _poly(u0 + s * np.array([x0, x1, x1, x0]), v0 - s * np.array([y0, y0, y1, y1]))

    legs = [rect(-0.4 * w, -0.05 * w, 0.0, 0.48 * h), rect(0.05 * w, 0.4 * w, 0.0, 0.48 * h)]
    torso = rect(-0.5 * w, 0.5 * w, 0.46 * h, 0.83 * h)
    cv2.fillPoly(img, legs, (40, 40, 60))
    cv2.fillPoly(img, [torso], _shade(o.color, 1.0))
    r = max(1, int(s * 0.1 * h))
    head = (int(u0), int(v0 - s * 0.91 * h))
    cv2.circle(img, head, r, (200, 160, 130), -1)
    cv2.fillPoly(ids, [*legs, torso], k)
    cv2.circle(ids, head, r, k, -1)
    return np.array([u0 - s * w / 2, v0 - s * h, u0 + s * w / 2, v0])


def _roadside(img: np.ndarray, ids: np.ndarray, k: int, scene: Scene, o: Obj) -> np.ndarray:
    """Traffic sign (face on a pole) or traffic light (housing with three lamps); box = face."""
    cam, road = scene.camera, scene.road
    w, h, _ = o.dims
    s = cam.focal / o.z
    u0 = cam.width / 2 + s * (float(road.center(o.z)) + o.lateral)
    v0 = cam.horizon + s * cam.cam_height
    cv2.line(img, (int(u0), int(v0)), (int(u0), int(v0 - s * o.elevation)), (110, 110, 110),
             max(1, int(s * 0.08)))
    x0, x1 = u0 - s * w / 2, u0 + s * w / 2
    y1, y0 = v0 - s * o.elevation, v0 - s * (o.elevation + h)
    face = _poly(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    if o.category == "traffic sign":
        cv2.fillPoly(img, [face], (240, 240, 240))
        b = max(1, int(s * w * 0.1))
        inner = _poly(np.array([x0 + b, x1 - b, x1 - b, x0 + b]), np.array([y0 + b, y0 + b, y1 - b,
                                                                            y1 - b]))
        cv2.fillPoly(img, [inner], _shade(o.color, 1.0))
    else:
        cv2.fillPoly(img, [face], (25, 25, 25))
        r = max(1, int(s * w * 0.32))
        for i, name in enumerate(("red", "yellow", "green")):
            lit = {"red": (255, 40, 30), "yellow": (255, 200, 30), "green": (40, 255, 120)}[name]
            col = lit if name == o.light else (60, 60, 60)
            cv2.circle(img, (int(u0), int(y0 + (i + 0.5) * (y1 - y0) / 3)), r, col, -1)
    cv2.fillPoly(ids, [face], k)
    return np.array([x0, y0, x1, y1])


def draw_object(img: np.ndarray, ids: np.ndarray, k: int, scene: Scene, o: Obj) -> np.ndarray:
    """Draw one object; returns its full (unoccluded, unclipped) projected box x1, y1, x2, y2."""
    if o.category in VEHICLE_DIMS:
        return _vehicle(img, ids, k, scene, o)
    if o.category == "pedestrian":
        return _pedestrian(img, ids, k, scene, o)
    return _roadside(img, ids, k, scene, o)
