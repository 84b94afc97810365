"""``gitexp.Audio`` and ``gitexp.Video``: sound and moving pictures as files of the run.

Audio from an array is written as 16-bit PCM WAV with the standard library's ``wave``
module (no dependency).  A video is a file the script wrote (mp4, webm, gif, ...), kept
as it is; from an array (T×C×H×W, as wandb takes it) it is encoded as an animated GIF
with pillow, the one encoder gitexp uses (``pip install gitexp[media]``); without it,
logging warns and leaves the video out.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from gitexp.media.base import Media
from gitexp.model.history import AUDIO_FILE, VIDEO_FILE

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink

_AUDIO_EXTENSIONS = {"wav", "mp3", "ogg", "flac", "m4a"}
_VIDEO_EXTENSIONS = {"mp4", "webm", "gif", "ogg", "ogv", "mov", "avi", "mkv"}


def _read(path: str, allowed: set[str], what: str) -> tuple[bytes, str]:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in allowed:
        raise ValueError(
            f"{what}({path!r}): give a file ending in {', '.join(sorted(allowed))}, or an array"
        )
    with open(path, "rb") as handle:  # now: the file may change after this line
        return handle.read(), ext


def wav_bytes(samples: Any, sample_rate: int) -> tuple[bytes, int, int]:
    """16-bit PCM WAV of ``samples`` (N, or N×channels; floats in [-1, 1] or int16);
    returns the bytes, the channel count and the frame count."""
    import wave

    import numpy as np

    array = np.asarray(samples)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"gitexp.Audio needs samples N or N×channels, got shape {tuple(array.shape)}"
        )
    if array.dtype != np.int16:
        if not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"gitexp.Audio needs numbers, got an array of {array.dtype}")
        clipped = np.clip(np.nan_to_num(array.astype(np.float64)), -1.0, 1.0)
        array = np.round(clipped * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(int(array.shape[1]))
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(array.astype("<i2").tobytes())
    return out.getvalue(), int(array.shape[1]), int(array.shape[0])


class Audio(Media):
    """Sound, shaped like ``wandb.Audio``: an array with ``sample_rate``, or a path."""

    __slots__ = ("caption", "channels", "data", "ext", "frames", "sample_rate")

    def __init__(
        self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.sample_rate = sample_rate
        self.channels: int | None = None
        self.frames: int | None = None
        if isinstance(data_or_path, (str, os.PathLike)):
            self.data, self.ext = _read(os.fspath(data_or_path), _AUDIO_EXTENSIONS, "gitexp.Audio")
            return
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(
                "gitexp.Audio of an array needs sample_rate=, a positive int (e.g. 16000)"
            )
        if hasattr(data_or_path, "detach"):
            data_or_path = data_or_path.detach().cpu().numpy()
        self.data, self.channels, self.frames = wav_bytes(data_or_path, sample_rate)
        self.ext = "wav"

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        ref: dict[str, object] = {"_type": AUDIO_FILE, **sink.write(key, step, self.data, self.ext)}
        ref["format"] = self.ext
        if self.sample_rate is not None:
            ref["sample_rate"] = self.sample_rate
        if self.channels is not None and self.frames is not None and self.sample_rate:
            ref["channels"] = self.channels
            ref["duration"] = round(self.frames / self.sample_rate, 6)
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<gitexp.Audio {self.ext} {len(self.data)} bytes>"


class Video(Media):
    """A video, shaped like ``wandb.Video``: a path, or an array T×C×H×W (uint8)."""

    __slots__ = ("_array", "caption", "data", "ext", "fps", "shape")

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: int | None = None,
        format: str | None = None,
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.fps = fps
        self.data: bytes | None = None
        self._array: Any = None
        self.shape: tuple[int, int, int] | None = None  # frames, height, width
        if isinstance(data_or_path, (str, os.PathLike)):
            self.data, self.ext = _read(os.fspath(data_or_path), _VIDEO_EXTENSIONS, "gitexp.Video")
            return
        if format not in (None, "gif"):
            raise ValueError(
                f"gitexp.Video encodes arrays as gif only, got format={format!r}; "
                "write the video file yourself and pass its path"
            )
        self.ext = "gif"
        self._array = self._frames(data_or_path)
        frames, height, width = self._array.shape[:3]
        self.shape = (int(frames), int(height), int(width))
        try:
            import PIL  # noqa: F401  (only whether the encoder is there)
        except ImportError:
            import warnings

            warnings.warn(
                "gitexp: gitexp.Video of an array needs pillow to encode it "
                "(pip install 'gitexp[media]'); this video will not be stored",
                stacklevel=2,
            )

    @staticmethod
    def _frames(data: Any) -> Any:
        import numpy as np

        array = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
        if array.ndim == 4 and array.shape[1] in (1, 3, 4):
            array = array.transpose(0, 2, 3, 1)  # T×C×H×W -> T×H×W×C
        if array.ndim != 4 or array.shape[3] not in (1, 3, 4) or array.size == 0:
            raise ValueError(
                f"gitexp.Video needs an array T×C×H×W (C in 1, 3, 4), got {tuple(array.shape)}"
            )
        if array.dtype != np.uint8:
            array = np.clip(array, 0, 255).astype(np.uint8)
        return array[..., 0] if array.shape[3] == 1 else array

    def _gif(self) -> bytes:
        try:
            from PIL import Image as PILImage
        except ImportError:
            raise RuntimeError("install pillow to log videos from arrays") from None
        frames = [PILImage.fromarray(frame) for frame in self._array]
        out = io.BytesIO()
        duration = int(1000 / (self.fps or 4))
        frames[0].save(
            out, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0
        )
        return out.getvalue()

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        data = self.data if self.data is not None else self._gif()
        ref: dict[str, object] = {"_type": VIDEO_FILE, **sink.write(key, step, data, self.ext)}
        ref["format"] = self.ext
        if self.shape is not None:
            ref["frames"], ref["height"], ref["width"] = self.shape
            ref["fps"] = self.fps or 4
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<gitexp.Video {self.ext}>"
