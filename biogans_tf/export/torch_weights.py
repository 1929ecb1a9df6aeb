"""Reading reference PyTorch checkpoints and loading them, strictly, into the Keras models.

Every key must be used and every shape must match, otherwise a ValueError names the key.
BatchNorm running statistics are imported (`num_batches_tracked`, absent from PyTorch-0.2 files,
is ignored). Layouts: PyTorch ConvTranspose2d `[in, out, kh, kw]` and Conv2d `[out, in, kh, kw]`
both become Keras `[kh, kw, ...]` by the transpose (2, 3, 1, 0). torch is optional: only
`load_torch_state_dict` needs it.
"""

from __future__ import annotations

import os
import re

import numpy as np

from biogans_tf.export.torch_keys import key_map

_HINT = "check --arch, --image_size, --n_proteins, --nz, --ngf/--ndf and --red_portion"
# A reference `DCGAN_G_independent` key: `main.<protein>.` before the protein's own DCGAN_G key.
_INDEPENDENT_KEY = re.compile(r"^main\.(\d+)\.(main\..+)$")
# The last (linear, bias-free) conv of a reference `DCGAN_D`, alone or inside a star critic bank.
_CRITIC_FINAL_KEY = re.compile(r"(^|\.)final\.\d+-1\.conv\.weight$")
GANS = ("gan", "wgan", "wgan-gp")


def _clean(state_dict, source) -> dict:
    """Numpy copy without `num_batches_tracked`, and without a DataParallel `module.` prefix."""
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(
            f"{source}: expected a non-empty state_dict (name -> array), got {type(state_dict).__name__}"
        )
    out = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise ValueError(f"{source}: state_dict key {k!r} is not a string")
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


def independent_parts(n_proteins: int, state_dict, source="state_dict") -> list[dict]:
    """One generator state_dict per protein, from either layout of a reference independent model.

    Args:
      n_proteins: C.
      state_dict: the reference's own checkpoint (one `DCGAN_G_independent` state_dict, keys
        `main.<c>.main....` for c in 0..C-1), alone or as a one-element list; or a list of C
        per-protein `DCGAN_G` state_dicts in protein order.
      source: name of the checkpoint(s) for error messages.

    Returns:
      C cleaned state_dicts (keys `main....`, numpy arrays), in protein order.

    Raises:
      ValueError: naming `source` when neither layout fits C.
    """
    items = list(state_dict) if isinstance(state_dict, list | tuple) else [state_dict]
    if len(items) == 1:
        flat = _clean(items[0], source)
        parts: dict[int, dict] | None = {}
        for k, v in flat.items():
            m = _INDEPENDENT_KEY.match(k)
            if m is None:
                parts = None  # not the single-file layout: a per-protein DCGAN_G file
                break
            parts.setdefault(int(m.group(1)), {})[m.group(2)] = v
        if parts:
            if sorted(parts) != list(range(n_proteins)):
                raise ValueError(
                    f"{source}: a reference independent checkpoint holding generators {sorted(parts)}; "
                    f"expected 0..{n_proteins - 1} (--n_proteins={n_proteins})"
                )
            return [parts[i] for i in range(n_proteins)]
    if len(items) != n_proteins:
        raise ValueError(
            f"{source}: independent generators need the reference's single checkpoint holding every "
            f"protein's generator, or one reference checkpoint per protein ({n_proteins}, in protein "
            f"order; pass --pth once per protein), got {len(items)} per-protein checkpoint(s)"
        )
    return [_clean(sd, f"{source}[{i}]") for i, sd in enumerate(items)]


def load_weights(model, state_dict, source="state_dict") -> int:
    """Copy a reference state_dict (numpy or torch tensors) into a built Keras model, strictly.

    Args:
      model: a built model from `biogans_tf.models` (generator or critic).
      state_dict: mapping key -> array; for an `IndependentGenerator` the reference's single
        checkpoint or a list with one state_dict per protein (see `independent_parts`).
      source: name of the checkpoint for error messages.

    Returns:
      Number of tensors copied.

    Raises:
      ValueError: naming the missing / unexpected key or the key whose shape does not match.
    """
    from biogans_tf.models import IndependentGenerator

    if isinstance(model, IndependentGenerator):
        flat = {}
        for i, sd in enumerate(independent_parts(model.n_proteins, state_dict, source)):
            flat.update({f"{i}/{k}": v for k, v in sd.items()})
    else:
        flat = _clean(state_dict, source)
    targets = key_map(model)
    missing = [k for k in targets if k not in flat]
    unexpected = [k for k in flat if k not in targets]
    if missing or unexpected:
        raise ValueError(
            f"{source}: state_dict keys do not match {type(model).__name__} "
            f"(missing {len(missing)}: {missing[:3]}; unexpected {len(unexpected)}: {unexpected[:3]}); "
            f"{_HINT}"
        )
    values = {}
    for k, var in targets.items():
        arr = flat[k]
        if arr.ndim == 4:
            arr = np.transpose(arr, (2, 3, 1, 0))
        if tuple(arr.shape) != tuple(var.shape):
            raise ValueError(
                f"{source}: key {k!r} has shape {list(flat[k].shape)}, the Keras variable {var.path} needs "
                f"{_torch_shape(var)}; {_HINT}"
            )
        values[k] = arr
    for k, var in targets.items():
        var.assign(values[k].astype(var.dtype))
    return len(values)


def _torch_shape(var):
    s = list(var.shape)
    return [s[3], s[2], s[0], s[1]] if len(s) == 4 else s


def to_project_sign(state_dict, gan: str, source="critic state_dict") -> dict:
    """A reference critic state_dict in this project's sign convention (real images score high).

    Args:
      state_dict: a reference `DCGAN_D` or star critic bank state_dict.
      gan: the loss the critic was trained with. "wgan" / "wgan-gp": the reference critic scores
        real images low, so the final conv (linear, no bias) of every critic is negated and the
        scores change sign exactly. "gan": unchanged.

    Returns:
      A cleaned numpy state_dict.

    Raises:
      ValueError: unknown `gan`, or no final critic layer among the keys.
    """
    if gan not in GANS:
        raise ValueError(f"--gan: expected one of {', '.join(GANS)}, got {gan!r}")
    flat = _clean(state_dict, source)
    if gan == "gan":
        return flat
    finals = [k for k in flat if _CRITIC_FINAL_KEY.search(k)]
    if not finals:
        raise ValueError(f"{source}: no final critic layer (`...final.<ndf>-1.conv.weight`) to sign-convert")
    return {k: (-v if k in finals else v) for k, v in flat.items()}


def load_torch_state_dict(path: str, allow_pickle: bool = False) -> dict:
    """Read a `.pth` holding a state_dict (or a whole pickled module) into numpy arrays.

    Args:
      path: the `.pth` file.
      allow_pickle: also accept a whole pickled `nn.Module` (needs its classes importable and runs
        pickle code: only for files you trust).

    Raises:
      ImportError: torch is not installed.
      ValueError: naming `path` when it is missing or holds something else.
    """
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "export.from_torch needs PyTorch to read .pth files: pip install -r requirements-torch.txt"
        ) from e
    if not os.path.isfile(path):
        raise ValueError(f"--pth: {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:
        raise ValueError(
            f"--pth: {path}: cannot read it as a state_dict ({type(e).__name__}: {str(e)[:200]}). If it is a "
            "whole pickled module, pass --allow_pickle (trusted files only)"
        ) from e
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return _clean(obj, path)
