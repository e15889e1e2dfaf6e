"""A domain resnet_any does not ship, in a few lines: log-spectrograms of motion sensors, a 2D ResNet from the core.

    python demos/custom_domain.py [--epochs 60] [--seeds 3]

BasicMotions (shipped with aeon: 6 channels of accelerometer and gyroscope, 100 steps, 4 activities,
40 train / 40 test series) becomes a (6, frequency, time) image per series by a short-time Fourier
transform; a ResNet assembled from the core's blocks (`GridOps(2)`, BASIC blocks, squeeze-excitation)
classifies it, trained by `resnet_any.fit` with the trainer's guarantees (checkpoints, resume, AMP).
The same split through `series_resnet` on the raw series is printed beside it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a plain checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

import resnet_any  # noqa: E402
from resnet_any import BASIC, GridOps, ResNet  # noqa: E402
from resnet_any.data import load_dataset  # noqa: E402


def log_spectrogram(x: torch.Tensor, n_fft: int = 16, hop: int = 4) -> torch.Tensor:
    """(N, C, L) series -> (N, C, n_fft // 2 + 1, frames) log-magnitude spectrograms, one per channel."""
    n, c, length = x.shape
    window = torch.hann_window(n_fft)
    spec = torch.stft(x.reshape(n * c, length), n_fft, hop, window=window, return_complex=True).abs()
    return torch.log1p(spec).reshape(n, c, *spec.shape[1:])


def spectro_resnet(channels: int, classes: int) -> ResNet:
    """Two stages of basic blocks over (frequency, time), squeeze-excitation, the small-image stem."""
    return ResNet(GridOps(2), BASIC, layers=(1, 1), widths=(32, 64), in_channels=channels, num_classes=classes,
                  stem="cifar", attn="se")


def main(argv: list[str] | None = None) -> int:
    """Train both models on each seed and print their test accuracy."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="BasicMotions", help="a multivariate set aeon ships (or JapaneseVowels)")
    p.add_argument("--n-fft", type=int, default=16, help="STFT window (JapaneseVowels' 29 steps: 8)")
    p.add_argument("--hop", type=int, default=4, help="STFT hop (JapaneseVowels: 2)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    args = p.parse_args(argv)

    splits = load_dataset("series", args.dataset)  # z-normalised per channel, val carved from train
    data = {name: (log_spectrogram(ds.x, args.n_fft, args.hop), ds.y) for name, ds in
            (("train", splits.train), ("val", splits.val), ("test", splits.test))}
    root = Path(args.out or tempfile.mkdtemp(prefix="custom_domain_"))
    rows = []
    for seed in range(args.seeds):
        spec = resnet_any.fit(spectro_resnet(splits.in_channels, splits.num_classes), data["train"], data["val"],
                              data["test"], out=root / f"spectro-{seed}", epochs=args.epochs, batch_size=8,
                              seed=seed, quiet=True)
        # the same series and split through the shipped 1D model, the same trainer, the same budget
        series = resnet_any.fit("series_resnet", splits, out=root / f"series-{seed}", epochs=args.epochs,
                                batch_size=8, width=16, seed=seed, quiet=True)
        rows.append((seed, spec["test_accuracy"], series["test_accuracy"]))
        print(f"seed {seed}: spectrogram 2D ResNet {spec['test_accuracy']:.3f}  series_resnet "
              f"{series['test_accuracy']:.3f}", flush=True)
    mean = [sum(r[i] for r in rows) / len(rows) for i in (1, 2)]
    print(f"{splits.name} test accuracy over {len(rows)} seed(s), {args.epochs} epochs: spectrogram 2D ResNet "
          f"{mean[0]:.3f}, series_resnet {mean[1]:.3f}  (runs in {root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
