"""The open peers, behind one small interface: ``embed(rgb, bits) -> rgb`` and ``extract(rgb) -> bits``.

- invisible-watermark 0.2 (https://pypi.org/project/invisible-watermark/): ``dwtDct`` and ``dwtDctSvd``
  (64 bits here, as Assay) and ``rivaGan`` (its ONNX model carries exactly 32 bits).
- blind-watermark 0.4 (https://pypi.org/project/blind-watermark/): 64 bits, its default strength.

Neither peer has a detector with a false-positive rate: they always return bits. So the comparison is on the
bits (exact recovery and bit accuracy); only Assay is measured for false positives. Both work on BGR arrays
(OpenCV), so the adapters convert; marked images are rounded and clipped to uint8, as saving them would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Method:
    name: str
    bits: int
    embed: Callable[[np.ndarray, np.ndarray], np.ndarray]
    extract: Callable[[np.ndarray], np.ndarray]
    note: str = ""


def _install_torch_stand_in() -> None:
    """invisible-watermark's rivaGan.py imports torch only to reshape arrays around its ONNX models.

    Installing torch for that is a multi-GB download, so when torch is absent this registers a stand-in module
    with exactly the operations rivaGan.py calls (from_numpy, permute, unsqueeze, clamp, detach/cpu/numpy),
    implemented with numpy. With real torch installed, the real one is used.
    """
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        return

    class Tensor:
        def __init__(self, a: np.ndarray) -> None:
            self.a = np.asarray(a)

        def permute(self, *axes: int) -> Tensor:
            return Tensor(np.transpose(self.a, axes))

        def unsqueeze(self, axis: int) -> Tensor:
            return Tensor(np.expand_dims(self.a, axis))

        def detach(self) -> Tensor:
            return self

        def cpu(self) -> Tensor:
            return self

        def numpy(self) -> np.ndarray:
            return self.a

        def __getitem__(self, index: object) -> Tensor:
            return Tensor(self.a[index])

        def __add__(self, other: float) -> Tensor:
            return Tensor(self.a + other)

        def __mul__(self, other: float) -> Tensor:
            return Tensor(self.a * other)

        def __truediv__(self, other: float) -> Tensor:
            return Tensor(self.a / other)

        def __sub__(self, other: float) -> Tensor:
            return Tensor(self.a - other)

    torch = types.ModuleType("torch")
    torch.from_numpy = lambda a: Tensor(a)  # type: ignore[attr-defined]
    torch.clamp = lambda t, min=None, max=None: Tensor(np.clip(t.a, min, max))  # type: ignore[attr-defined]
    sys.modules["torch"] = torch


def _load_riva_single_threaded() -> None:
    """Load rivaGan's two ONNX models as the library does, but held to one thread (the benchmark is per core)."""
    import os

    import onnxruntime
    from imwatermark import rivaGan

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    folder = os.path.dirname(os.path.abspath(rivaGan.__file__))
    rivaGan.RivaWatermark.encoder = onnxruntime.InferenceSession(
        os.path.join(folder, "rivagan_encoder.onnx"), options, providers=["CPUExecutionProvider"]
    )
    rivaGan.RivaWatermark.decoder = onnxruntime.InferenceSession(
        os.path.join(folder, "rivagan_decoder.onnx"), options, providers=["CPUExecutionProvider"]
    )


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def _to_rgb_uint8(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(bgr), 0, 255).astype(np.uint8)[..., ::-1])


def invisible_watermark(method: str, bits: int) -> Method:
    _install_torch_stand_in()
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    if method == "rivaGan":
        _load_riva_single_threaded()

    def embed(rgb: np.ndarray, payload_bits: np.ndarray) -> np.ndarray:
        enc = WatermarkEncoder()
        enc.set_watermark("bits", [int(b) for b in payload_bits])
        return _to_rgb_uint8(enc.encode(_bgr(rgb), method))

    def extract(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        if h * w < 256 * 256:  # the library refuses smaller images
            return np.zeros(bits, dtype=np.uint8)
        dec = WatermarkDecoder("bits", bits)
        return np.asarray(dec.decode(_bgr(rgb), method), dtype=np.uint8)[:bits]

    return Method(f"invisible-watermark {method}", bits, embed, extract)


def blind_watermark(bits: int = 64) -> Method:
    import blind_watermark as bw

    bw.bw_notes.close()

    def embed(rgb: np.ndarray, payload_bits: np.ndarray) -> np.ndarray:
        wm = bw.WaterMark(password_img=1, password_wm=1)
        wm.read_img(img=_bgr(rgb))
        wm.read_wm([bool(b) for b in payload_bits], mode="bit")
        with contextlib.redirect_stdout(io.StringIO()):
            out = wm.embed()
        return _to_rgb_uint8(out)

    def extract(rgb: np.ndarray) -> np.ndarray:
        wm = bw.WaterMark(password_img=1, password_wm=1)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                out = wm.extract(embed_img=_bgr(rgb).astype(np.float32), wm_shape=bits, mode="bit")
        except (AssertionError, ValueError, IndexError):  # too small for its block layout
            return np.zeros(bits, dtype=np.uint8)
        return (np.asarray(out) >= 0.5).astype(np.uint8)

    return Method("blind-watermark", bits, embed, extract)


def available_peers() -> tuple[list[Method], list[str]]:
    """The peers that can run here, and a line for each that cannot (with the install command)."""
    methods: list[Method] = []
    missing: list[str] = []
    if importlib.util.find_spec("imwatermark") is not None:
        methods.append(invisible_watermark("dwtDct", 64))
        methods.append(invisible_watermark("dwtDctSvd", 64))
        try:
            methods.append(invisible_watermark("rivaGan", 32))
        except ImportError as exc:
            missing.append(f"invisible-watermark rivaGan: {exc} (pip install onnxruntime)")
    else:
        missing.append("invisible-watermark: pip install --no-deps invisible-watermark PyWavelets opencv-python")
    if importlib.util.find_spec("blind_watermark") is not None:
        methods.append(blind_watermark(64))
    else:
        missing.append("blind-watermark: pip install blind-watermark")
    return methods, missing
