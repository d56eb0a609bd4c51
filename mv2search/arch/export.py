"""Export a built network to ONNX with torch's dynamo exporter, quietly.

The legacy TorchScript exporter (`dynamo=False`) fails on this family; the dynamo exporter
(`torch.export` + onnxscript) produces graphs whose logits match eager to about 1e-6. The graph has
one input `image` (`B x 3 x H x W`, float32) and one output `logits` (`B x num_classes`), both with
the static shapes of the example input. The weights are stored inside the `.onnx` file (no
external-data side file); every model of the family is far below protobuf's 2 GiB limit.

Opset: the exporter's operator library is written for opset 18 and converts the graph to the
requested opset afterwards. Down-conversion to 17 fails for this family (ReduceMean's `axes` input
cannot become an attribute), and for an opset the converter does not know; in both cases torch only
logs a warning and keeps opset 18. We therefore require opset >= 18 and check the opset of the graph
before writing it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from mv2search.arch.spec import check_int

__all__ = ["MIN_OPSET", "export_onnx"]

MIN_OPSET = 18  # the exporter's native opset; it cannot down-convert this family to 17
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "onnx_ir")


def export_onnx(
    model: nn.Module,
    path: str | Path,
    image_size: int,
    *,
    opset: int = 18,
    batch_size: int = 1,
    exporter: str = "dynamo",
    example: torch.Tensor | None = None,
) -> Path:
    """Write `model` as an ONNX graph for `batch_size x 3 x image_size x image_size` float32 inputs.

    The model is exported in eval mode (BatchNorm uses its running statistics) and its train/eval
    mode is restored afterwards. The exporter's progress lines and warnings are silenced; errors
    propagate unchanged.

    Args:
        model: The network, e.g. `build_model(spec)`; the example input goes to the device of its
            parameters.
        path: Destination `.onnx` file; missing parent directories are created.
        image_size: Side of the square input in pixels.
        opset: ONNX opset of the default domain, at least `MIN_OPSET` (18).
        batch_size: Batch dimension of the (static) input shape.
        exporter: "dynamo" (`torch.export`, the default and the future of torch.onnx) or
            "torchscript" (the legacy tracer: 10-30x faster to export, same outputs, and graphs
            that ONNX Runtime ran 3-10 % slower here; used to measure many blocks quickly).
        example: An input to trace with instead of a random image (e.g. a block's feature map);
            `image_size` and `batch_size` are then ignored.

    Returns:
        The path written, as a `Path`.

    Raises:
        ValueError: if `opset`, `image_size` or `batch_size` is out of range (naming the argument),
            or the exporter could not convert the graph to `opset` (nothing is written then).
    """
    check_int("image_size", image_size, 1)
    check_int("batch_size", batch_size, 1)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset: {opset!r} is not allowed; expected an integer >= {MIN_OPSET}")
    if exporter not in ("dynamo", "torchscript"):
        raise ValueError(
            f"exporter: {exporter!r} is not allowed; allowed: ['dynamo', 'torchscript']"
        )
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    if example is None:
        example = torch.randn(batch_size, 3, image_size, image_size, device=device)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if exporter == "torchscript":
        return _export_torchscript(model, example, path, opset)
    was_training = model.training
    try:
        with _quiet():
            program = torch.onnx.export(
                model.eval(),
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
                verbose=False,
            )
    finally:
        model.train(was_training)
    assert program is not None  # None only for the legacy exporter (dynamo=False)
    written = program.model.opset_imports.get("")
    if written != opset:
        raise ValueError(
            f"opset: {opset} is not supported by the exporter (it produced opset {written})"
        )
    program.save(path, external_data=False)
    return path


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> Path:
    was_training = model.training
    try:
        with _quiet():
            torch.onnx.export(
                model.eval(),
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
            )
    finally:
        model.train(was_training)
    return path


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The exporter prints progress lines, logs "torchvision is not installed" warnings and triggers
    # FutureWarnings in torch.export; none is actionable for a caller. Exceptions still escape.
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # static shapes: the tracer's "Python value in the graph" warnings do not apply
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx.*")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
