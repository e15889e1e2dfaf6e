"""A run that learns nothing says so: symptoms watched on every run, reported once, kept in summary.json.

The thresholds are reference points a user can check by hand, not values tuned on a dataset:
- chance: the accuracy of always predicting the most frequent class, plus two binomial standard errors
  of the split's size (a model no better than that has shown nothing on this split), and the same for
  balanced accuracy (1/K): a class-weighted model below the majority share that tells classes apart passes;
- a uniform guess's cross-entropy, ln K: a loss above it is worse than guessing;
- the first epoch's training loss: a training loss that never falls below it is not learning;
- a short run (a quarter or less of the epochs the recipe derives) that ends nearer chance than 100%;
- regression: a validation R² (best epoch) at or below 0, what predicting the training mean scores, which a
  model whose outputs collapsed to one value scores too;
- multi-label: a mean average precision within PREVALENCE_MARGIN of the tags' mean prevalence, what a ranking
  that ignores the input scores in expectation (the average precision of random scores is the prevalence).
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

# epochs before judging the curves (divergence, a training loss that never falls): the first ones of a
# warm-up schedule may legitimately look like noise. Where a run *ends* is judged whatever its length.
MIN_EPOCHS = 3
# mAP this close to the mean prevalence is no evidence of learning: on 100 validation samples of a 30% tag,
# random scores give an average precision within about this much of 0.3 (its sampling spread, by simulation)
PREVALENCE_MARGIN = 0.05
# test predictions varying less than this (regression: their standard deviation over the targets'; tags: the
# probabilities' standard deviation) are one output for every input: a collapsed model
COLLAPSED = 0.01


def balanced_chance_level(counts: list[int], looks: int = 1) -> float:
    """Balanced accuracy of any guess that ignores the input (1/K over the K classes present), plus the noise
    margin of the split: what a model that tells no class from another scores, weighted loss or not."""
    n, k = sum(counts), sum(1 for c in counts if c)
    return _errors_above(1.0 / k, n, looks) if n and k else 1.0


def _errors_above(p: float, n: int, looks: int = 1) -> float:
    """A rate p plus z binomial standard errors of n samples: z = 2 for one look at the split; for the best of
    `looks` epochs z grows (Sidak) so that a chance-level run still passes with the same 2.3% probability,
    instead of the ~13% that the best of 6 noisy epochs would have against 2 standard errors."""
    z = NormalDist().inv_cdf(NormalDist().cdf(2.0) ** (1.0 / max(looks, 1)))
    return p + z * math.sqrt(p * (1.0 - p) / n)


def no_better_than_chance(acc: float, balanced: float | None, counts: list[int], looks: int = 1) -> bool:
    """Accuracy within chance of always predicting the most frequent class, and balanced accuracy within chance too.

    Both, because class weights or a balanced sampler trade accuracy below the majority share for balanced
    accuracy: such a model tells the classes apart and has learned something. `looks`: how many epochs the
    figures are the best of.
    """
    return acc <= chance_level(counts, looks) and (balanced is None or balanced <= balanced_chance_level(counts, looks))


def chance_level(counts: list[int], looks: int = 1) -> float:
    """Accuracy of always predicting the most frequent class, plus the noise margin of the split (2 SE for one look)."""
    n = sum(counts)
    return _errors_above(max(counts) / n, n, looks) if n else 1.0


class Health:
    """Watches the epochs for a run that learns nothing; the trainer keeps one for every run and asks its verdict.

    Not a callback: it never changes the run, and the loop reads its verdict into the summary itself.
    """

    def __init__(self, num_classes: int = 2, val_counts: list[int] | None = None,
                 epoch_budget: int | None = None, task: str = "classify") -> None:
        self.task = task
        # multilabel: per split ("val", "test"), the mean over tags of the positives' share (set by the trainer)
        self.prevalence: dict[str, float | None] = {}
        self.history: list[dict[str, Any]] = []
        self.num_classes = num_classes
        self.val_counts = list(val_counts or [])
        self.epoch_budget = epoch_budget

    def replay(self, history: list[dict[str, Any]]) -> None:
        """Start from a resumed run's finished epochs (a fresh run: none)."""
        self.history = [dict(r) for r in history]

    def observe(self, record: dict[str, Any]) -> None:
        """Keep the epoch's metrics; judging waits for the end, when the whole curve is known."""
        self.history.append(dict(record))

    def verdict(self, test_acc: float | None = None, test_counts: list[int] | None = None,
                test_balanced: float | None = None, test: dict[str, Any] | None = None) -> list[str]:
        """One line per symptom, each with the most likely fix; empty for a healthy run.

        A run that held nothing out for validation (--select train_loss) is judged on its test split instead,
        when it has one: otherwise a short run on a few hundred samples could end at chance in silence.
        """
        rows = self.history
        if not rows:
            return []
        if self.task != "classify":
            return self._targets_verdict(test or {}) + self._falls()
        out = []
        curves = len(rows) >= MIN_EPOCHS
        uniform = math.log(max(self.num_classes, 2))
        val = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
        if curves and val and (not all(math.isfinite(v) for v in val) or (val[-1] > uniform and val[-1] > 2 * val[0])):
            out.append(f"validation loss diverged ({val[0]:.3g} after epoch 1, {val[-1]:.3g} at the end, above a "
                       f"uniform guess's {uniform:.3g}): lower the learning rate or the model size, or use a smaller batch")
        accs = [r["val_acc"] for r in rows if r.get("val_acc") is not None]
        balanced = [r["val_balanced_accuracy"] for r in rows if r.get("val_balanced_accuracy") is not None]
        if accs and self.val_counts and no_better_than_chance(max(accs), max(balanced, default=None), self.val_counts,
                                                              looks=len(accs)):
            share = max(self.val_counts) / sum(self.val_counts)
            out.append(f"validation accuracy never rose above chance (best {max(accs):.3f} on "
                       f"{sum(self.val_counts)} samples over {len(accs)} epochs, within noise of the {share:.3f} that "
                       "predicting the most frequent class scores): check the labels, then try a lower learning rate or more "
                       "epochs")
        if (not accs and test_acc is not None and sum(test_counts or ())
                and no_better_than_chance(test_acc, test_balanced, test_counts)):
            share = max(test_counts) / sum(test_counts)
            out.append(f"test accuracy {test_acc:.3f} is no better than chance (predicting the most frequent class "
                       f"scores {share:.3f}; no validation split was held out to watch): check the labels, then "
                       "try more epochs or a lower learning rate")
        # a short try (--epochs 3) that ends weak: the budget is the likeliest cause, so say it
        score, counts = (max(accs), self.val_counts) if accs else (test_acc, test_counts)
        if self.epoch_budget and 4 * len(rows) <= self.epoch_budget and score is not None and sum(counts or ()):
            share = max(counts) / sum(counts)
            if score < (share + 1) / 2:
                out.append(f"ran {len(rows)} epochs, a quarter or less of the {self.epoch_budget} this data's recipe "
                           f"derives, and reached accuracy {score:.3f} at best, nearer chance ({share:.3f}) than 1: leave "
                           "--epochs unset to train the derived budget")
        return out + self._falls()

    def _falls(self) -> list[str]:
        """The training loss must fall below its first epoch's (judged from MIN_EPOCHS on)."""
        train = [r["train_loss"] for r in self.history]
        if len(train) >= MIN_EPOCHS and all(math.isfinite(v) for v in train) and min(train[1:]) >= train[0]:
            return [f"training loss never fell below its first epoch's ({train[0]:.3g}): lower the learning "
                    "rate, or check that inputs and labels belong together"]
        return []

    def _targets_verdict(self, test: dict[str, Any]) -> list[str]:
        """Regression no better than the training mean; multi-label no better than the tags' prevalences."""
        rows, out = self.history, []
        spread = test.get("spread")
        if spread is not None and spread < COLLAPSED:
            out.append(f"the outputs collapsed: the test predictions vary {spread:.2g} "
                       f"{'times as much as the targets' if self.task == 'regress' else 'in probability'} (one "
                       "value for every input); lower the learning rate, or check that inputs and targets belong together")
        if self.task == "regress":
            r2 = [r["val_r2"] for r in rows if r.get("val_r2") is not None]
            where, best = ("validation", max(r2)) if r2 else ("test", test.get("r2"))
            if best is not None and best <= 0:
                out.append(f"{where} R² {best:.3f} at best: no better than predicting the training mean (R² 0), as "
                           "outputs collapsed to one value also score; check that inputs and targets belong "
                           "together, then try more epochs or a lower learning rate")
        elif self.task == "multilabel":
            maps = [r["val_map"] for r in rows if r.get("val_map") is not None]
            where, best = ("validation", max(maps)) if maps else ("test", test.get("map"))
            prevalence = self.prevalence.get("val" if maps else "test")
            if best is not None and prevalence is not None and best <= prevalence + PREVALENCE_MARGIN:
                out.append(f"{where} mAP {best:.3f} at best, within {PREVALENCE_MARGIN} of the tags' mean prevalence "
                           f"{prevalence:.3f}, what scores that ignore the input reach: check the tags, then try "
                           "more epochs or a lower learning rate")
        return out
