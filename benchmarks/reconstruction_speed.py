"""Benchmark: latent reconstruction speed, ours (one batched in-graph L-BFGS) vs the reference's scheme.

    python -m benchmarks.reconstruction_speed [--arch dcgan] [--n_images 12] [--ref_images 2]
        [--restarts 5] [--iterations 50] [--budgets fast,reference] [--seed 0]
        [--ref_steps 50] [--ngf 64] [--bn_warmup 20]

One generator for both frameworks: the PyTorch reference generator (`torch_reference.py
build_models`, `reference_init`, seeded), converted to our Keras generator with
`export.from_torch.convert_state_dict` (their outputs on one z are compared). Targets: the 12 real
LIN cells of `shared/reference/lin_real_cells.npy` ([red, green] in [-1, 1]).

- Ours: `Reconstructor` on all `--n_images` at once (one chunk: `restarts * n_images` problems in
  one L-BFGS), timed after a warm-up call on one image (its time, tracing included, is printed
  separately).
- The reference's scheme: one image at a time, restarts in sequence, `torch.optim.LBFGS` on
  z `[1, nz, 1, 1]` (N(0, 1) start from a seeded `torch.Generator`), loss `mean((G(z) - x)^2)` in
  [-1, 1] units, generator in eval mode, `os.cpu_count()` torch threads, best restart kept. Budget
  "reference": `LBFGS(lr=1, max_iter=20)` (no line search) stepped `--ref_steps` (50) times, the
  reference's loop; budget "fast": `LBFGS(max_iter=iterations, line_search_fn="strong_wolfe")`
  stepped once (the like-for-like budget of our fast mode). Run on `--ref_images` images only.

`--ref_steps` also sets our "reference" budget's outer steps (`latent.REFERENCE_OUTER_STEPS`), so
both sides shrink alike for development runs. L2 (both sides): per image root mean square error on
[0, 1] intensities, `sqrt(mean(((a - b) / 2)^2))`, averaged over images; ours is also given on the
reference's first `--ref_images` images. Last line: key=value pairs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from biogans_tf.conventions import to_model_range  # noqa: E402
from biogans_tf.cpu import cpu_model  # noqa: E402
from biogans_tf.eval import latent  # noqa: E402
from biogans_tf.eval.reconstruction import Reconstructor  # noqa: E402
from biogans_tf.export.from_torch import convert_state_dict  # noqa: E402

_REF_ARCH = {"dcgan": "dcgan", "dcgan-sep": "sep"}
NZ = 100


def shared_dir() -> str:
    """`$BIOGANS_SHARED`, else `<repo>/../shared`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("BIOGANS_SHARED") or os.path.join(os.path.dirname(root), "shared")


def load_reference():
    """The reference models module (`shared/reference/torch_reference.py`), imported from its file."""
    path = os.path.join(shared_dir(), "reference", "torch_reference.py")
    if not os.path.isfile(path):
        raise SystemExit(f"reconstruction_speed: {path} not found (set BIOGANS_SHARED)")
    spec = importlib.util.spec_from_file_location("_biogans_torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_cells() -> np.ndarray:
    """The 12 real LIN cells as float32 `[12, 48, 80, 2]` ([red, green]) in [-1, 1]."""
    rgb = np.load(os.path.join(shared_dir(), "reference", "lin_real_cells.npy"))  # uint8 [12, 48, 80, 3]
    return to_model_range(rgb[..., :2])


def build_generators(ref, arch: str, ngf: int, seed: int, bn_warmup: int):
    """(torch generator in eval mode, our Keras generator with the same weights, max |output diff|).

    `bn_warmup` train-mode forwards (batch 64) first give BatchNorm running statistics of real
    activations (as `torch_reference.py export --bn-warmup`). Without them the freshly initialised
    generator's eval-mode activations are ~0.02x smaller per layer: its output hardly depends on z
    (torch's L-BFGS stops at once) and the tiny values are denormals that slow torch ~40x.
    """
    import torch

    torch.manual_seed(seed)
    g_torch, _ = ref.build_models(_REF_ARCH[arch], ngf=ngf)
    ref.reference_init(g_torch).train()
    gen = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for _ in range(bn_warmup):
            g_torch(torch.randn(64, NZ, 1, 1, generator=gen))
    g_torch.eval()
    g_keras = convert_state_dict(arch, ref.reference_state_dict(g_torch), ngf=ngf, nz=NZ)
    z = torch.randn(1, NZ, 1, 1, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        want = g_torch(z).numpy().transpose(0, 2, 3, 1)  # NCHW -> NHWC
    got = np.asarray(g_keras(z.numpy().reshape(1, NZ), training=False))
    return g_torch, g_keras, float(np.max(np.abs(got - want)))


def time_ours(g_keras, images, budget: str, a) -> dict:
    """Our `Reconstructor` on all images in one chunk: warm-up (1 image) then the timed call."""
    rec = Reconstructor(
        lambda z, protein: g_keras(z, training=False),
        NZ,
        iterations=a.iterations,
        restarts=a.restarts,
        batch=len(images),
        budget=budget,
    )
    t0 = time.perf_counter()
    rec(images[:1], seed=a.seed)  # traces the solver (input signature: any batch size)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = rec(images, seed=a.seed)
    wall = time.perf_counter() - t0
    return dict(warmup_s=warmup, wall_s=wall, per_image_s=wall / len(images), l2=out["l2"])


def _torch_fit(g, x, z0, budget: str, a):
    """One restart of the reference's scheme from `z0`; returns (final loss in [-1, 1] units, G calls)."""
    import torch

    z = z0.clone().requires_grad_(True)
    if budget == "reference":
        opt, steps = torch.optim.LBFGS([z], lr=1, max_iter=20), a.ref_steps
    else:
        opt, steps = torch.optim.LBFGS([z], max_iter=a.iterations, line_search_fn="strong_wolfe"), 1

    calls = [0]

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = torch.mean((g(z) - x) ** 2)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    with torch.no_grad():
        return float(torch.mean((g(z) - x) ** 2)), calls[0]


def time_reference(g_torch, images, budget: str, a) -> dict:
    """The reference's scheme on `images` (one image at a time, restarts in sequence, best kept)."""
    import torch

    gen = torch.Generator().manual_seed(a.seed)
    z = torch.zeros(1, NZ, 1, 1, requires_grad=True)
    torch.mean(g_torch(z) ** 2).backward()  # warm-up: thread pool and oneDNN kernels, not timed
    l2, calls = [], []
    t0 = time.perf_counter()
    for img in images:
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))  # [1, 2, H, W]
        starts = [torch.randn(1, NZ, 1, 1, generator=gen) for _ in range(a.restarts)]
        fits = [_torch_fit(g_torch, x, z0, budget, a) for z0 in starts]
        calls += [c for _, c in fits]
        best_loss = min(loss for loss, _ in fits)
        l2.append(np.sqrt(best_loss / 4.0))  # [-1, 1] units -> [0, 1] intensities: /2 per pixel
    wall = time.perf_counter() - t0
    return dict(wall_s=wall, per_image_s=wall / len(images), l2=np.array(l2), calls=float(np.mean(calls)))


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(_REF_ARCH), default="dcgan")
    p.add_argument("--n_images", type=int, default=12, help="images for ours (at most 12)")
    p.add_argument("--ref_images", type=int, default=2, help="images for the reference's scheme (slow)")
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--iterations", type=int, default=50, help="L-BFGS iterations of the fast budget")
    p.add_argument("--budgets", default="fast,reference")
    p.add_argument("--seed", type=int, default=0)
    steps_help = "outer LBFGS steps of the reference budget, both sides (shrink for development only)"
    p.add_argument("--ref_steps", type=int, default=latent.REFERENCE_OUTER_STEPS, help=steps_help)
    p.add_argument("--ngf", type=int, default=64, help="generator width (64: paper; less: dev)")
    p.add_argument("--bn_warmup", type=int, default=20, help="train-mode forwards for BatchNorm statistics")
    a = p.parse_args(argv)
    a.budgets = [b for b in a.budgets.split(",") if b]
    bad = [b for b in a.budgets if b not in latent.BUDGETS]
    if bad or not 1 <= a.n_images <= 12 or not 1 <= a.ref_images <= 12 or min(a.restarts, a.ref_steps) < 1:
        p.error(f"bad sizes or budgets (budgets from {latent.BUDGETS}, 1 <= images <= 12)")
    return a


def main(argv=None) -> dict:
    a = _args(argv)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    # Our "reference" budget reads this at trace time: shrinking it keeps both sides alike.
    latent.REFERENCE_OUTER_STEPS = a.ref_steps
    ref = load_reference()
    g_torch, g_keras, diff = build_generators(ref, a.arch, a.ngf, a.seed, a.bn_warmup)
    images = real_cells()
    print(f"cpu={cpu_model()!r} cores={os.cpu_count()} load={_load()} threads={torch.get_num_threads()}")
    print(f"arch={a.arch} ngf={a.ngf} bn_warmup={a.bn_warmup} max|G_torch - G_keras| on one z = {diff:.2e}")
    print(f"n_images={a.n_images} ref_images={a.ref_images} restarts={a.restarts} iterations={a.iterations} "
          f"ref_steps={a.ref_steps} seed={a.seed}")  # fmt: skip
    summary = {"max_abs_diff": f"{diff:.2e}"}
    for budget in a.budgets:
        ours = time_ours(g_keras, images[: a.n_images], budget, a)
        theirs = time_reference(g_torch, images[: a.ref_images], budget, a)
        speedup = theirs["per_image_s"] / ours["per_image_s"]
        print(f"[{budget}] ours: {ours['per_image_s']:.3f} s/image ({ours['wall_s']:.2f} s for {a.n_images}; "
              f"warm-up incl. tracing {ours['warmup_s']:.2f} s), mean L2 {ours['l2'].mean():.4f} "
              f"(first {a.ref_images}: {ours['l2'][: a.ref_images].mean():.4f})")  # fmt: skip
        print(f"[{budget}] reference scheme: {theirs['per_image_s']:.3f} s/image ({theirs['wall_s']:.2f} s "
              f"for {a.ref_images}), mean L2 {theirs['l2'].mean():.4f}, "
              f"{theirs['calls']:.0f} G calls per restart; speed-up {speedup:.1f}x")  # fmt: skip
        summary.update({
            f"ours_s_per_image_{budget}": f"{ours['per_image_s']:.4f}",
            f"ref_s_per_image_{budget}": f"{theirs['per_image_s']:.4f}",
            f"speedup_{budget}": f"{speedup:.2f}",
            f"ours_l2_{budget}": f"{ours['l2'].mean():.4f}",
            f"ref_l2_{budget}": f"{theirs['l2'].mean():.4f}",
            f"ours_warmup_s_{budget}": f"{ours['warmup_s']:.2f}",
        })  # fmt: skip
    print(f"load={_load()}")
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return summary


if __name__ == "__main__":
    main()
