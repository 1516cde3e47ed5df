"""Headless pixel rendering of a MuJoCo model as a `TaskSpec` says.

wmgym renders with its own `mujoco.Renderer` rather than gymnasium's viewer, so that the camera,
image size and scene flags come from the spec alone and every frame is a pure function of the
physics state (a recorded state re-renders to the same pixels).
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref

import mujoco
import numpy as np

from wmgym.tasks.spec import CameraSpec, TaskSpec


def enlarge_visual_geoms(model: mujoco.MjModel, spec: TaskSpec) -> None:
    """Draw the spec's marker geoms larger, in place. Refuses a geom that could collide."""
    for name, radius in spec.render.visual_geom_radius:
        gid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if gid < 0:
            raise ValueError(f"task {spec.name!r}: visual_geom_radius names geom {name!r}, which the model lacks")
        if _can_collide(model, gid):
            raise ValueError(
                f"task {spec.name!r}: geom {name!r} can collide, so enlarging it would change the physics; "
                "only collision-free geoms may be enlarged"
            )
        model.geom_size[gid, 0] = radius


def _can_collide(model: mujoco.MjModel, gid: int) -> bool:
    contype, conaffinity = model.geom_contype[gid], model.geom_conaffinity[gid]
    others = np.arange(model.ngeom) != gid
    return bool(
        np.any((contype & model.geom_conaffinity[others]) != 0)
        or np.any((model.geom_contype[others] & conaffinity) != 0)
    )


class FrameRenderer:
    """Renders (H, W, 3) uint8 frames of ``data`` from the spec's camera.

    The GL context is made on the first frame, not here: an env that has not rendered yet holds no
    GL state, so it can be pickled or sent to a forked worker. Pickling keeps (model, spec, size);
    the copy makes its own context when it first renders.

    Args:
        model: the compiled MuJoCo model (its marker geoms already enlarged).
        spec: the task spec; gives the camera and scene flags.
        size: (height, width); defaults to ``spec.image_size``.

    Raises:
        RuntimeError: on the first frame, in a process forked from one that had already rendered
            (its GL state does not survive the fork, and rendering would hang); the message says to
            start workers with ``spawn`` or ``forkserver``.
    """

    def __init__(self, model: mujoco.MjModel, spec: TaskSpec, size: tuple[int, int] | None = None):
        self._model, self._spec = model, spec
        self._size = tuple(size or spec.image_size)
        height, width = self._size
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self._camera = _make_camera(model, spec)
        self._renderer: mujoco.Renderer | None = None
        self._pid = os.getpid()
        self._segmentation = False

    def set_camera(self, camera: CameraSpec) -> None:
        """Draw from now on from ``camera`` (a perturbed robot's camera pose, `wmgym.truth.perturb`)."""
        self._spec = self._spec.replace(camera=camera)
        self._camera = _make_camera(self._model, self._spec)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """An RGB frame, uint8 (H, W, 3)."""
        renderer = self._gl()
        self._set_segmentation(False)
        renderer.update_scene(data, camera=self._camera)
        return renderer.render()

    def segmentation(self, data: mujoco.MjData) -> np.ndarray:
        """Per-pixel MuJoCo object ids, int32 (H, W, 2): [object id, object type]; -1 is background."""
        renderer = self._gl()
        self._set_segmentation(True)
        renderer.update_scene(data, camera=self._camera)
        return renderer.render()

    def _gl(self) -> mujoco.Renderer:
        if self._renderer is None:
            if _GL_INHERITED:
                raise RuntimeError(_FORKED_AFTER_GL)
            global _RENDERED
            height, width = self._size
            self._renderer = mujoco.Renderer(self._model, height=height, width=width)
            self._pid, self._segmentation, _RENDERED = os.getpid(), False, True
            _track(self)
            flags = self._renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self._spec.render.shadows
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self._spec.render.reflections
        return self._renderer

    def _set_segmentation(self, on: bool) -> None:
        if on != self._segmentation:
            if on:
                self._renderer.enable_segmentation_rendering()
            else:
                self._renderer.disable_segmentation_rendering()
            self._segmentation = on

    def close(self) -> None:
        """Free the GL resources. Safe to call twice, and on a half-built object."""
        renderer = getattr(self, "_renderer", None)
        if renderer is None:
            return
        self._renderer = None
        if self._pid != os.getpid():
            # Made before a fork: its GL state belongs to the parent, and freeing it here could hang.
            _ORPHANS.append(renderer)
            return
        # mujoco.Renderer.close frees its textures in whatever GL context is current, which is
        # another renderer's when several are alive: make our own current first.
        gl_context = getattr(renderer, "_gl_context", None)
        if gl_context is not None:
            gl_context.make_current()
        renderer.close()

    def __getstate__(self) -> dict:
        return {"model": self._model, "spec": self._spec, "size": self._size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"], state["spec"], state["size"])

    def __del__(self):
        self.close()


_LIVE: weakref.WeakSet[FrameRenderer] = weakref.WeakSet()
_AT_EXIT_REGISTERED = False
_RENDERED = False  # this process has made a GL context
_GL_INHERITED = False  # this process was forked from one with GL state: it cannot render
_ORPHANS: list = []  # renderers made before a fork: never freed in the child

_FORKED_AFTER_GL = (
    "cannot render in this process: it was forked from a process that had already rendered with "
    "OpenGL, whose GL state does not survive a fork (rendering would hang). Start worker processes "
    "with 'spawn' or 'forkserver' instead: gym.make_vec(id, n, vectorization_mode='async', "
    "vector_kwargs={'context': 'spawn'}), or multiprocessing.get_context('spawn'); or create the "
    "workers before the first frame is rendered"
)


def _after_fork_in_child() -> None:
    """Note whether the parent had GL state: ours, or an EGL display anyone opened through mujoco."""
    global _GL_INHERITED, _RENDERED
    egl = sys.modules.get("mujoco.egl")
    _GL_INHERITED = _GL_INHERITED or _RENDERED or getattr(egl, "EGL_DISPLAY", None) is not None
    _RENDERED = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def _track(renderer: FrameRenderer) -> None:
    """Close live renderers at exit, before mujoco's own atexit hook tears EGL down.

    Registered after the first GL context exists, so that it runs before mujoco's hook (atexit
    runs last-registered first) and no renderer is freed after its display is gone.
    """
    global _AT_EXIT_REGISTERED
    _LIVE.add(renderer)
    if not _AT_EXIT_REGISTERED:
        atexit.register(lambda: [r.close() for r in list(_LIVE)])
        _AT_EXIT_REGISTERED = True


def _make_camera(model: mujoco.MjModel, spec: TaskSpec) -> mujoco.MjvCamera:
    cam_spec = spec.camera
    cam = mujoco.MjvCamera()
    cam.lookat[:] = cam_spec.lookat
    cam.distance = cam_spec.distance
    cam.azimuth = cam_spec.azimuth
    cam.elevation = cam_spec.elevation
    if cam_spec.mode == "tracking":
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, cam_spec.track_body)
        if body < 0:
            raise ValueError(f"task {spec.name!r}: camera tracks body {cam_spec.track_body!r}, which the model lacks")
        cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        cam.trackbodyid = body
    else:
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    return cam
