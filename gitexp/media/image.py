"""``gitexp.Image``: an image logged as a PNG (or the file given) under the run's media folder.

Accepted: a numpy array H×W (grey), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA), of uint8 or of
floats in [0, 1]; a torch tensor C×H×W (channels first, as torch keeps images) or H×W;
a PIL image; a path to an image file (its bytes are kept as they are).  Arrays are
checked when the Image is built, so a wrong shape fails at the user's line; they are
encoded when logged.  Encoding needs pillow (``pip install gitexp[media]``); without it
``gitexp.log`` warns and leaves the image out, never stopping the training.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from gitexp.media.base import Media, plain
from gitexp.model.history import IMAGE_FILE

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink

_EXTENSIONS = {"png", "jpg", "jpeg", "gif", "bmp", "webp", "svg", "tif", "tiff"}
PIL_HINT = "install pillow to log images: pip install 'gitexp[media]'"


def as_uint8(data: Any, what: str) -> Any:
    """A numpy array or torch tensor as a uint8 numpy array H×W or H×W×C (C in 1, 3, 4)."""
    import numpy as np

    if hasattr(data, "detach") and hasattr(data, "cpu"):  # torch: channels first
        array = data.detach().cpu().numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):
            array = array.transpose(1, 2, 0)
    else:
        array = np.asarray(data)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"{what} needs an array H×W, H×W×3 or H×W×4 (a torch tensor C×H×W), "
            f"got shape {tuple(array.shape)}"
        )
    if array.size == 0:
        raise ValueError(f"{what} got an empty array of shape {tuple(array.shape)}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        # Floats are intensities in [0, 1]; outside is clipped, NaN is black.
        scaled = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array, 0, 255).astype(np.uint8)
    raise TypeError(f"{what} needs numbers, got an array of {array.dtype}")


def png_bytes(array: Any) -> bytes:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="PNG")
    return out.getvalue()


class Image(Media):
    """An image, shaped like ``wandb.Image``.

    Args:
        data_or_path: an array, a tensor, a PIL image or a path (see the module docstring).
        caption: shown under the image.
        boxes: ``{"predictions": {"box_data": [...], "class_labels": {...}}}`` as wandb
            takes them; stored as JSON beside the image.
        masks: ``{"predictions": {"mask_data": array H×W, "class_labels": {...}}}``;
            stored as JSON beside the image.
    """

    __slots__ = ("_array", "_bytes", "_ext", "_pil", "annotations", "caption", "size")

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: object = None,
        boxes: object = None,
        masks: object = None,
        file_type: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self._array: Any = None
        self._pil: Any = None
        self._bytes: bytes | None = None
        self._ext = "png"
        self.size: tuple[int, int] | None = None  # width, height when known
        if isinstance(data_or_path, (str, os.PathLike)):
            self._read_file(os.fspath(data_or_path))
        elif type(data_or_path).__module__.startswith("PIL."):
            self._pil = data_or_path.copy()  # the caller may draw on it after logging
            self.size = tuple(data_or_path.size)
        else:
            self._array = as_uint8(data_or_path, "gitexp.Image")
            self.size = (int(self._array.shape[1]), int(self._array.shape[0]))
        annotations = {
            name: plain(value) for name, value in (("boxes", boxes), ("masks", masks)) if value
        }
        self.annotations = annotations or None

    def _read_file(self, path: str) -> None:
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        if ext not in _EXTENSIONS:
            raise ValueError(
                f"gitexp.Image({path!r}): not an image file name; "
                f"give one ending in {', '.join(sorted(_EXTENSIONS))}, or pass an array"
            )
        with open(path, "rb") as handle:  # now: the file may change after this line
            self._bytes = handle.read()
        self._ext = "jpg" if ext == "jpeg" else ext
        try:
            from PIL import Image as PILImage

            with PILImage.open(io.BytesIO(self._bytes)) as opened:
                self.size = tuple(opened.size)
        except Exception:  # no pillow, or a format it cannot read: the size stays unknown
            self.size = None

    def encoded(self) -> tuple[bytes, str]:
        """The file's bytes and extension (PNG for arrays and PIL images)."""
        if self._bytes is not None:
            return self._bytes, self._ext
        try:
            if self._pil is not None:
                out = io.BytesIO()
                self._pil.save(out, format="PNG")
                return out.getvalue(), "png"
            return png_bytes(self._array), "png"
        except ImportError:
            raise RuntimeError(PIL_HINT) from None

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        data, ext = self.encoded()
        written = sink.write(key, step, data, ext)
        ref: dict[str, object] = {"_type": IMAGE_FILE, **written, "format": ext}
        if self.size is not None:
            ref["width"], ref["height"] = self.size
        if self.caption is not None:
            ref["caption"] = self.caption
        if self.annotations:
            from gitexp.model import values

            text = values.dumps(self.annotations).encode()
            side = sink.write(key, step, text, f"{str(written['sha256'])[:8]}.json")
            ref["annotations"] = side
        return ref

    def __repr__(self) -> str:
        shape = f"{self.size[0]}x{self.size[1]}" if self.size else "unknown size"
        return f"<gitexp.Image {shape}>"
