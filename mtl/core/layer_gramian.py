"""The Gramian of per-task gradients of the shared parameters, without the Jacobian.

Gramian methods (MGDA, IMTL-G, UPGrad, …) need only ``G = J Jᵀ``, the ``k × k`` dot
products of the tasks' gradients. For an affine layer ``z = a W + b`` over ``R`` input
rows, task ``i``'s gradient is ``∂W_i = aᵀ Δ_i`` and ``∂b_i = 1ᵀ Δ_i``, with
``Δ_i = ∂loss_i/∂z`` (``R × out``). So

    <∂W_i, ∂W_j> = Σ_rs (a_r · a_s)(Δ_i,r · Δ_j,s) = sum(Δ_i ⊙ (K Δ_j)),  K = a aᵀ (R × R),

and ``G`` needs only the per-task output gradients (one batched backward that stops at
the layers' outputs) and the inputs' ``R × R`` products, never ``k`` copies of a
``5000 × 1024`` weight gradient. A sparse bag-of-words input makes ``K`` one sparse
product; the input layer's folded whitening is the centred input ``x·scale − centre``.
Where the layer is small (``in × out <= R²``) the per-task gradients are formed
directly instead. Shared parameters outside such layers get their gradients the plain
way (one batched pass) and add ``g gᵀ``. The result equals ``J Jᵀ`` up to rounding
(tested); a layer called several times in one forward counts all its calls' rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from mtl.core.batches import SparseBatch
from mtl.core.layers import InputLayer


def _rows(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1])


class _Layer:
    """An affine layer whose weight and bias are both shared: its calls' inputs/outputs."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.inputs: list = []
        self.outputs: list[Tensor] = []

    def record(self, _module: nn.Module, args: tuple, output: Tensor) -> None:
        self.inputs.append(args[0])
        self.outputs.append(output)

    def clear(self) -> None:
        self.inputs, self.outputs = [], []

    def kernel(self) -> Tensor:
        """``K = a aᵀ`` over every recorded row (the effective, centred input rows)."""
        if len(self.inputs) == 1:
            return self._kernel(self.inputs[0])
        dense = torch.cat([self._effective(x) for x in self.inputs])  # several calls
        return dense @ dense.T

    def _effective(self, x) -> Tensor:
        """The input rows as a dense matrix, as the layer's weight sees them."""
        m = self.module
        if isinstance(x, SparseBatch):
            return self._sparse(x).to_dense() - self._centre()
        x = _rows(x)
        if isinstance(m, InputLayer) and m.whiten:
            return x * m.scale - m.center
        return x

    def _centre(self) -> Tensor | float:
        m = self.module
        return m.center if isinstance(m, InputLayer) and m.whiten else 0.0

    def _sparse(self, x: SparseBatch) -> Tensor:
        m = self.module
        vals = x.vals * m.scale.index_select(0, x.cols) if getattr(m, "whiten", False) else x.vals
        n = len(x.offsets)
        lengths = torch.diff(x.offsets, append=x.offsets.new_tensor([len(x.cols)]))
        rows = torch.repeat_interleave(torch.arange(n, device=x.cols.device), lengths)
        size = (n, m.weight.shape[0])
        indices = torch.stack([rows, x.cols])
        return torch.sparse_coo_tensor(indices, vals, size, check_invariants=False).coalesce()

    def _kernel(self, x) -> Tensor:
        if not isinstance(x, SparseBatch):
            dense = self._effective(x)
            return dense @ dense.T
        s = self._sparse(x)
        k = torch.sparse.mm(s, s.to_dense().T)
        m = self.module
        if isinstance(m, InputLayer) and m.whiten:  # (x − 1cᵀ)(x − 1cᵀ)ᵀ
            xc = torch.sparse.mm(s, m.center[:, None]).squeeze(1)
            k = k - xc[:, None] - xc[None, :] + m.center @ m.center
        return k

    def gram(self, deltas: list[Tensor]) -> Tensor:
        """``(k, k)`` Gramian of this layer's weight and bias from the per-task output
        gradients of its calls (``(k, *output.shape)`` each)."""
        d = torch.cat([dl.reshape(dl.shape[0], -1, dl.shape[-1]) for dl in deltas], dim=1)
        weight = self.module.weight
        rows = d.shape[1]
        bias = d.sum(1)
        out = bias @ bias.T
        if weight.numel() <= rows * rows and not any(
            isinstance(x, SparseBatch) for x in self.inputs
        ):
            a = torch.cat([self._effective(x) for x in self.inputs])
            g = torch.einsum("ri,kro->kio", a, d).reshape(d.shape[0], -1)
            return out + g @ g.T
        kd = torch.einsum("rs,kso->kro", self.kernel(), d)
        return out + torch.einsum("iro,jro->ij", d, kd)


def _supported(module: nn.Module) -> bool:
    if isinstance(module, InputLayer):
        return module.groups == 1
    return type(module) is nn.Linear and module.bias is not None


class LayerGramian:
    """Computes the shared parameters' Gramian from per-layer factors (module docstring).

    ``build`` returns ``None`` when no shared layer qualifies; otherwise wrap the
    step's forward in :meth:`recording` and call :meth:`gram` with the ``(k,)`` losses."""

    def __init__(self, layers: list[_Layer], rest: list[nn.Parameter]):
        self.layers, self.rest = layers, rest
        self.active = False
        for layer in layers:
            layer.module.register_forward_hook(self._hook(layer))

    def _hook(self, layer: _Layer):
        def hook(module, args, output):
            if self.active:
                layer.record(module, args, output)

        return hook

    @classmethod
    def build(
        cls, model: nn.Module, shared: list[nn.Parameter], allow_rest: bool = True
    ) -> LayerGramian | None:
        """``None`` when no shared layer qualifies, or (``allow_rest`` false) when other
        shared parameters would need per-task gradients beside the factors; decided
        before any forward hook is registered."""
        ids = {id(p) for p in shared}
        layers, covered = [], set()
        for module in model.modules():
            params = [module.weight, module.bias] if _supported(module) else []
            if params and all(id(p) in ids for p in params):
                layers.append(_Layer(module))
                covered |= {id(p) for p in params}
        rest = [p for p in shared if id(p) not in covered]
        if not layers or (rest and not allow_rest):
            return None
        return cls(layers, rest)

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        for layer in self.layers:
            layer.clear()
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def gram(self, losses: Tensor, eye: Tensor) -> Tensor:
        """``J Jᵀ`` of the ``(k,)`` losses over the shared parameters (graph retained)."""
        used = [layer for layer in self.layers if layer.outputs]
        outputs = [z for layer in used for z in layer.outputs]
        grads = torch.autograd.grad(
            losses,
            outputs + self.rest,
            grad_outputs=eye,
            is_grads_batched=True,
            retain_graph=True,
            allow_unused=True,
        )
        k = len(losses)
        g = losses.new_zeros((k, k))
        pos = 0
        for layer in used:
            n = len(layer.outputs)
            deltas = [
                d if d is not None else z.new_zeros((k, *z.shape))
                for d, z in zip(grads[pos : pos + n], layer.outputs, strict=True)
            ]
            g = g + layer.gram(deltas)
            pos += n
            layer.clear()
        for d in grads[pos:]:
            if d is not None:
                flat = d.reshape(k, -1)
                g = g + flat @ flat.T
        return g
