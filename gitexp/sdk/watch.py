"""``gitexp.watch(model)``: gradient and parameter histograms of a PyTorch module.

Cost between logged steps is one forward hook on the watched module that counts its
training-mode forward passes.  On every ``log_freq``-th pass it logs the parameter
histograms and arms one gradient hook per parameter for the backward pass that follows;
the gradient hooks are removed again at the next forward pass, so ordinary steps never
run per-parameter Python code.  Histograms join the current step's row (``commit=False``),
so they land next to the loss the script logs for that step.

torch is never imported here: modules and tensors are used through their methods.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from gitexp.sdk.histogram import Histogram

if TYPE_CHECKING:
    import torch
    from torch.utils.hooks import RemovableHandle

    Models = torch.nn.Module | list[torch.nn.Module] | tuple[torch.nn.Module, ...]

MODES = ("gradients", "parameters", "all")
DEFAULT_LOG_FREQ = 1000  # wandb's default: every 1000 training batches


class _Watcher:
    def __init__(self, module: torch.nn.Module, prefix: str, log: str, log_freq: int) -> None:
        self.module = module
        self.log_gradients = log in ("gradients", "all")
        self.log_parameters = log in ("parameters", "all")
        self.log_freq = log_freq
        self.prefix = prefix
        self.passes = 0
        self.grad_handles: list[RemovableHandle] = []
        self.logged_grads: set[str] = set()
        self.handle = module.register_forward_hook(self._after_forward)

    def _after_forward(
        self, module: torch.nn.Module, inputs: tuple[object, ...], output: object
    ) -> None:
        if not module.training:
            return  # evaluation passes neither count nor log
        if self.grad_handles:
            self._drop_grad_hooks()
        self.passes += 1
        if self.passes % self.log_freq:
            return
        if self.log_parameters:
            data = {
                f"parameters/{self.prefix}{name}": Histogram(param)
                for name, param in module.named_parameters()
            }
            _log(data)
        if self.log_gradients:
            self._arm_grad_hooks()

    def _arm_grad_hooks(self) -> None:
        self.logged_grads = set()
        for name, param in self.module.named_parameters():
            if not param.requires_grad:
                continue
            key = f"gradients/{self.prefix}{name}"
            if hasattr(param, "register_post_accumulate_grad_hook"):  # torch >= 2.1
                hook = self._on_grad(key)  # torch leaves the registering methods unannotated
                handle = param.register_post_accumulate_grad_hook(hook)  # type: ignore[no-untyped-call]
            else:
                handle = param.register_hook(self._on_grad_tensor(key))  # type: ignore[no-untyped-call]
            self.grad_handles.append(handle)

    def _on_grad(self, key: str) -> Callable[[torch.Tensor], None]:
        def hook(param: torch.Tensor) -> None:
            if param.grad is not None:
                self._log_grad(key, param.grad)

        return hook

    def _on_grad_tensor(self, key: str) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            self._log_grad(key, grad)

        return hook

    def _log_grad(self, key: str, grad: torch.Tensor) -> None:
        if key in self.logged_grads:
            return  # a second backward before the next forward (gradient accumulation)
        self.logged_grads.add(key)
        _log({key: Histogram(grad)})

    def _drop_grad_hooks(self) -> None:
        # Removed at the next forward, never inside the hook that fires: removing a hook
        # from within autograd's own hook iteration is not something to rely on.
        for handle in self.grad_handles:
            handle.remove()
        self.grad_handles = []

    def remove(self) -> None:
        self._drop_grad_hooks()
        self.handle.remove()


_watchers: list[_Watcher] = []


def _log(data: Mapping[str, object]) -> None:
    from gitexp.sdk.session import current

    run = current()
    if run is not None:
        run.log(data, commit=False)


def watch(
    models: Models,
    criterion: object = None,
    log: str | None = "gradients",
    log_freq: int = DEFAULT_LOG_FREQ,
    idx: int | None = None,
    log_graph: bool = False,
) -> None:
    """Log histograms of a PyTorch module's gradients and/or parameters.

    ``log`` is ``"gradients"`` (default), ``"parameters"``, ``"all"`` or ``None`` (nothing).
    Histograms are logged on every ``log_freq``-th training-mode forward pass of the module
    (``model.train()``), as ``gradients/<parameter name>`` and ``parameters/<name>``, into
    the step the script logs next.  ``models`` may be a module or a list of modules (the
    second and later ones get their index as a name prefix).  ``criterion``, ``idx`` and
    ``log_graph`` are accepted for wandb scripts and ignored.
    """
    from gitexp.sdk.session import current

    run = current()
    if run is None:
        raise RuntimeError("gitexp.watch() needs a run: call gitexp.init() first")
    if log not in (*MODES, None):
        raise ValueError(f"log must be one of {', '.join(MODES)} or None, got {log!r}")
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise ValueError(f"log_freq must be a positive int, got {log_freq!r}")
    if log_graph:
        warnings.warn("gitexp: watch(log_graph=True) is not supported; ignored", stacklevel=2)
    modules = list(models) if isinstance(models, (list, tuple)) else [models]
    for module in modules:
        if not hasattr(module, "register_forward_hook") or not hasattr(module, "named_parameters"):
            raise TypeError(f"gitexp.watch() takes a torch.nn.Module, got {type(module).__name__}")
    if log is None or run.disabled:
        return
    for index, module in enumerate(modules):
        unwatch(module)
        prefix = f"{index}." if index else ""
        _watchers.append(_Watcher(module, prefix, log, log_freq))


def unwatch(models: Models | None = None) -> None:
    """Remove the hooks ``watch`` added (to the given modules, or to every watched one)."""
    if models is None:
        targets = None
    else:
        targets = list(models) if isinstance(models, (list, tuple)) else [models]
    keep = []
    for watcher in _watchers:
        if targets is None or any(watcher.module is m for m in targets):
            watcher.remove()
        else:
            keep.append(watcher)
    _watchers[:] = keep
