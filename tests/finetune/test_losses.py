"""Fine-tuning losses against values worked out by hand from their definitions."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import pytest
import torch
from torch.testing import assert_close

from llmcal.errors import InputError
from llmcal.finetune.loss_registry import LazyEpochHook, LazyLoss
from llmcal.finetune.losses import (
    LOSSES,
    BinStatistics,
    CogCalibConfig,
    EpochData,
    LabelSmoothingConfig,
    LossInputs,
    MarginCogCalibConfig,
    NoHyperparameters,
    RcftConfig,
    bin_statistics,
    cft_loss,
    cogcalib_ecp_loss,
    cogcalib_ls_loss,
    cogcalib_mbls_loss,
    expected_bins,
    gold_nll,
    label_smoothing_loss,
    option_log_probs,
    rcft_calibration_loss,
    rcft_e_step,
    rcft_loss,
    rcft_targets,
    sft_loss,
)
from llmcal.registry import load_reference

NAMES = ["sft", "cft", "ls", "cogcalib-ls", "cogcalib-mbls", "cogcalib-ecp", "rcft"]
COGCALIB = ["cogcalib-ls", "cogcalib-mbls", "cogcalib-ecp"]
DOUBLE = torch.float64


def loss(
    name: str, inputs: LossInputs, bins: BinStatistics | None = None, **hyperparameters: Any
) -> torch.Tensor:
    """The registered loss ``name`` with those ``hyperparameters`` its config has (the others are ignored,
    so one set of values serves every loss) and ``bins`` as its epoch state."""
    plugin = LOSSES.get(name)
    accepted = {field.name for field in fields(plugin.config_type)}
    config = plugin.config_type(**{key: value for key, value in hyperparameters.items() if key in accepted})
    return plugin(inputs, config, bins)


def scores_of(probs: list[list[float]]) -> torch.Tensor:
    """Option scores whose restricted softmax is ``probs`` (and whose full-vocabulary NLL is -log p)."""
    return torch.log(torch.tensor(probs, dtype=DOUBLE))


def uniform_bins(accuracy: list[float], count: list[int]) -> BinStatistics:
    return BinStatistics(
        torch.tensor(accuracy, dtype=DOUBLE), torch.tensor(count), expected_bins(len(accuracy))
    )


def test_registry_has_exactly_the_documented_names():
    assert LOSSES.names() == NAMES


def test_every_registered_loss_declares_its_config_known_flags_and_epoch_hook():
    declared = {
        name: (plugin.config_type, plugin.needs_known_flags, plugin.epoch_hook, plugin.open_ended)
        for name, plugin in ((name, LOSSES.get(name)) for name in LOSSES)
    }
    rcft_hook = LazyEpochHook("llmcal.finetune.rcft:rcft_e_step")
    assert declared == {
        "sft": (NoHyperparameters, False, None, True),
        "cft": (NoHyperparameters, False, None, True),
        "ls": (LabelSmoothingConfig, False, None, True),
        "cogcalib-ls": (CogCalibConfig, True, None, True),
        "cogcalib-mbls": (MarginCogCalibConfig, True, None, False),
        "cogcalib-ecp": (CogCalibConfig, True, None, True),
        "rcft": (RcftConfig, False, rcft_hook, False),
    }
    assert load_reference(rcft_hook.path) is rcft_e_step


@pytest.mark.parametrize(
    ("name", "function"),
    [("sft", sft_loss), ("cft", cft_loss), ("ls", label_smoothing_loss), ("cogcalib-ls", cogcalib_ls_loss),
     ("cogcalib-mbls", cogcalib_mbls_loss), ("cogcalib-ecp", cogcalib_ecp_loss), ("rcft", rcft_loss)],
)  # fmt: skip
def test_each_registered_loss_computes_the_function_it_names(name, function):
    plugin = LOSSES.get(name)
    assert isinstance(plugin.compute, LazyLoss)
    assert load_reference(plugin.compute.path) is function
    inputs = LossInputs(torch.tensor([[-1.0, -2.0], [-3.0, -0.5]], dtype=DOUBLE), torch.tensor([0, 1]),
                        known=torch.tensor([True, False]))  # fmt: skip
    config = plugin.config_type()
    if name == "rcft":
        bins = bin_statistics(inputs.option_scores, inputs.labels, expected_bins())
        assert plugin(inputs, config, bins).item() == function(inputs, config, bins).item()
    else:
        assert plugin(inputs, config).item() == function(inputs, config).item()


def test_a_loss_called_without_a_config_uses_its_config_defaults():
    inputs = LossInputs(torch.tensor([[-1.0, -2.0], [-3.0, -0.5]], dtype=DOUBLE), torch.tensor([0, 1]))
    assert LOSSES.get("ls")(inputs).item() == loss("ls", inputs, smoothing=0.1).item()
    assert loss("ls", inputs, smoothing=0.1).item() != loss("ls", inputs, smoothing=0.0).item()


def test_the_rcft_e_step_bins_the_training_scores_once_and_records_the_bins():
    scores = torch.log(torch.tensor([[0.95, 0.05, 1.0], [0.65, 0.35, 1.0], [0.3, 0.25, 0.45]], dtype=DOUBLE))
    scores[:2, 2] = float("-inf")  # padded third option on the first two rows
    labels = torch.tensor([0, 1, 2])
    calls = []

    def training_scores():
        calls.append(1)
        return scores, labels

    update = rcft_e_step(EpochData(training_scores), RcftConfig())
    expected = bin_statistics(scores, labels, expected_bins(10), option_mask=torch.isfinite(scores))
    assert len(calls) == 1
    assert torch.equal(update.state.count, expected.count)
    assert torch.equal(update.state.accuracy, expected.accuracy)
    assert update.record == {"bin_accuracy": expected.accuracy.tolist(), "bin_count": expected.count.tolist()}
    # Max probabilities 0.95 (right), 0.65 (wrong: the gold is option 1) and 0.45 (right, three options).
    assert update.record["bin_count"] == [0, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert [update.record["bin_accuracy"][b] for b in (4, 6, 9)] == [1.0, 0.0, 1.0]


# --- sft / cft / ls ------------------------------------------------------------------------------------


def test_sft_is_the_mean_gold_nll():
    inputs = LossInputs(torch.tensor([[-1.0, -2.0], [-3.0, -0.5]]), torch.tensor([0, 1]))
    assert loss("sft", inputs).item() == pytest.approx(0.75)
    assert loss("cft", inputs).item() == loss("sft", inputs).item()
    assert_close(gold_nll(inputs), torch.tensor([1.0, 0.5]))


def test_sft_uses_the_full_vocabulary_nll_not_the_restricted_one():
    # Both options unlikely under the full vocabulary: restricted CE would be log 2, full NLL is 5.
    inputs = LossInputs(torch.tensor([[-5.0, -5.0]]), torch.tensor([0]))
    assert loss("sft", inputs).item() == pytest.approx(5.0)


def test_label_smoothing_by_hand_on_two_options():
    eps = 0.2
    inputs = LossInputs(torch.tensor([[-1.0, -2.0]], dtype=DOUBLE), torch.tensor([0]))
    log_z = math.log(math.exp(-1.0) + math.exp(-2.0))
    log_q0, log_q1 = -1.0 - log_z, -2.0 - log_z
    expected = (1 - eps) * 1.0 + eps * -(log_q0 + log_q1) / 2
    assert loss("ls", inputs, smoothing=eps).item() == pytest.approx(expected, abs=1e-12)
    assert loss("ls", inputs, smoothing=0.0).item() == pytest.approx(1.0)


# --- CogCalib --------------------------------------------------------------------------------------------

# Two-option batch: for 2 options the LS term is (s_y - s_other) / 2, i.e. 0.5 and 1.25 here.
TWO = torch.tensor([[-1.0, -2.0], [-3.0, -0.5]], dtype=DOUBLE)
TWO_LABELS = torch.tensor([0, 1])


@pytest.mark.parametrize("name", COGCALIB)
def test_cogcalib_equals_sft_exactly_when_nothing_is_known(name):
    sft = loss("sft", LossInputs(TWO, TWO_LABELS))
    none_known = torch.zeros(2, dtype=torch.bool)
    assert loss(name, LossInputs(TWO, TWO_LABELS, none_known)).item() == sft.item()
    assert loss(name, LossInputs(TWO, TWO_LABELS, None)).item() == sft.item()


@pytest.mark.parametrize(
    ("known", "expected_lcal_mean"), [([True, False], 0.5 / 2), ([True, True], 1.75 / 2)]
)
def test_cogcalib_ls_adds_alpha_times_the_ls_term_on_known_examples(known, expected_lcal_mean):
    alpha = 0.3
    sft = loss("sft", LossInputs(TWO, TWO_LABELS)).item()
    value = loss("cogcalib-ls", LossInputs(TWO, TWO_LABELS, torch.tensor(known)), alpha=alpha)
    assert value.item() - sft == pytest.approx(alpha * expected_lcal_mean, abs=1e-12)


def test_cogcalib_ls_with_restricted_nll_is_label_smoothing_with_eps_alpha():
    # Scores that are log-probs over the options make the full and restricted NLL coincide.
    scores = scores_of([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    labels = torch.tensor([0, 2])
    known = torch.tensor([True, True])
    cog = loss("cogcalib-ls", LossInputs(scores, labels, known), alpha=0.15)
    ls = loss("ls", LossInputs(scores, labels), smoothing=0.15)
    assert_close(cog, ls)


def test_cogcalib_mbls_is_zero_below_the_margin_and_the_hinge_above_it():
    sft = loss("sft", LossInputs(TWO, TWO_LABELS)).item()
    known = torch.tensor([True, True])
    # Logit gaps are 1 and 2.5, both below m = 10: no penalty.
    assert loss("cogcalib-mbls", LossInputs(TWO, TWO_LABELS, known)).item() == sft

    scores = torch.tensor([[0.0, -3.0, -0.5], [-2.0, -5.0, -2.5]], dtype=DOUBLE)
    labels = torch.tensor([0, 2])
    # m = 1: row 0 gaps (0, 3, 0.5) -> hinges (0, 2, 0) -> 2/3; row 1 gaps (0, 3, 0.5) -> 2/3 as well.
    # Only row 0 is known, so L_cal mean over the batch is (2/3 + 0) / 2.
    inputs = LossInputs(scores, labels, torch.tensor([True, False]))
    value = loss("cogcalib-mbls", inputs, alpha=0.5, margin=1.0).item()
    expected_nll = (0.0 + 2.5) / 2
    assert value == pytest.approx(expected_nll + 0.5 * (2 / 3) / 2, abs=1e-12)


def test_cogcalib_mbls_measures_the_margin_from_the_top_option_not_the_gold_one():
    # The gold option (0) is not the model's top option (1): gaps from the max are (3, 0, 0.5), hinges at
    # m = 1 are (2, 0, 0). Measured from the gold score every gap would be negative and the hinge 0.
    scores = torch.tensor([[-3.0, 0.0, -0.5]], dtype=DOUBLE)
    inputs = LossInputs(scores, torch.tensor([0]), torch.tensor([True]))
    value = loss("cogcalib-mbls", inputs, alpha=1.0, margin=1.0).item()
    assert value == pytest.approx(3.0 + 2 / 3, abs=1e-12)


def test_cogcalib_ecp_adds_alpha_times_negative_entropy():
    alpha = 0.2
    scores = scores_of([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])
    labels = torch.tensor([0, 2])
    neg_entropy_0 = 0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)  # = -1.5 ln 2
    neg_entropy_1 = 0.1 * math.log(0.1) + 0.2 * math.log(0.2) + 0.7 * math.log(0.7)
    nll = (-math.log(0.5) - math.log(0.7)) / 2
    value = loss("cogcalib-ecp", LossInputs(scores, labels, torch.tensor([True, True])), alpha=alpha)
    assert value.item() == pytest.approx(nll + alpha * (neg_entropy_0 + neg_entropy_1) / 2, abs=1e-12)
    assert neg_entropy_0 == pytest.approx(-1.5 * math.log(2))


# --- option_mask -----------------------------------------------------------------------------------------

BATCH = torch.tensor([[-1.2, -0.4, -2.0], [-0.3, -1.1, -4.0], [-6.0, -0.01, -0.2]], dtype=DOUBLE)
BATCH_LABELS = torch.tensor([1, 0, 2])
BATCH_BINS = uniform_bins([0.2, 0.5, 0.7, 1.0], [3, 4, 10, 6])
CONFIG: dict[str, Any] = {"smoothing": 0.2, "alpha": 0.4, "margin": 1.0, "bins": BATCH_BINS}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("junk", [5.0, float("-inf"), float("nan")])
def test_a_padded_option_changes_nothing(name, junk):
    known = torch.tensor([True, False, True])
    plain = loss(name, LossInputs(BATCH, BATCH_LABELS, known), **CONFIG)
    padded = torch.cat([BATCH[:, :1], torch.full((3, 1), junk, dtype=DOUBLE), BATCH[:, 1:]], dim=1)
    mask = torch.tensor([[True, False, True, True]] * 3)
    labels = BATCH_LABELS + (BATCH_LABELS >= 1).long()
    assert_close(loss(name, LossInputs(padded, labels, known, mask), **CONFIG), plain)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "rcft"])
def test_ragged_batch_is_the_mean_of_its_unpadded_examples(name):
    rows = [torch.tensor([[-1.0, -0.2, -3.0]], dtype=DOUBLE), torch.tensor([[-0.7, -1.5]], dtype=DOUBLE)]
    labels = [torch.tensor([2]), torch.tensor([0])]
    known = torch.tensor([True])
    singles = [loss(name, LossInputs(r, y, known), **CONFIG) for r, y in zip(rows, labels, strict=True)]
    padded = torch.tensor([[-1.0, -0.2, -3.0], [-0.7, -1.5, float("-inf")]], dtype=DOUBLE)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    batch = loss(name, LossInputs(padded, torch.tensor([2, 0]), torch.tensor([True, True]), mask), **CONFIG)
    assert_close(batch, (singles[0] + singles[1]) / 2)


def test_ragged_rcft_calibration_is_the_sum_over_its_unpadded_examples():
    rows = [torch.tensor([[-1.0, -0.2, -3.0]], dtype=DOUBLE), torch.tensor([[-0.7, -1.5]], dtype=DOUBLE)]
    singles = [rcft_calibration_loss(LossInputs(r, torch.tensor([0])), BATCH_BINS) for r in rows]
    padded = torch.tensor([[-1.0, -0.2, -3.0], [-0.7, -1.5, 0.0]], dtype=DOUBLE)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    batch = rcft_calibration_loss(LossInputs(padded, torch.tensor([0, 0]), None, mask), BATCH_BINS)
    assert_close(batch, singles[0] + singles[1])


def test_option_log_probs_are_minus_inf_on_padding_and_normalised_elsewhere():
    mask = torch.tensor([[True, False, True]])
    log_q = option_log_probs(torch.tensor([[0.0, 9.0, 0.0]]), mask)
    assert log_q[0, 1].item() == float("-inf")
    assert_close(log_q[0, [0, 2]], torch.full((2,), -math.log(2)))


# --- RCFT targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_options", [2, 3, 4, 7])
def test_rcft_targets_sum_to_one_minus_accuracy_and_keep_the_order(n_options):
    generator = torch.Generator().manual_seed(n_options)
    probs = torch.softmax(3 * torch.randn(64, n_options, generator=generator, dtype=DOUBLE), dim=1)
    nonmax = probs.sort(dim=1, descending=True).values[:, 1:]
    accuracy = torch.rand(64, generator=generator, dtype=DOUBLE)
    targets = rcft_targets(nonmax, accuracy)
    assert_close(targets.sum(dim=1), 1 - accuracy)
    assert bool((targets[:, :-1] >= targets[:, 1:]).all())
    assert bool((targets > 0).all())


def test_rcft_targets_are_zero_when_the_bin_is_always_right():
    targets = rcft_targets(torch.tensor([[0.2, 0.1, 0.05], [0.3, 0.0, 0.0]]), torch.tensor([1.0, 1.0]))
    assert_close(targets, torch.zeros(2, 3, dtype=DOUBLE))


def test_rcft_targets_by_hand_with_four_options():
    q, acc = [0.2, 0.1, 0.05], 0.6
    gamma = math.log(3) / 0.2 * 1 / (1 - acc)
    shaped = [math.tanh(gamma * value) for value in q]
    alpha = beta = (1 - acc) / (sum(shaped) + 3)
    expected = torch.tensor([[alpha * s + beta for s in shaped]], dtype=DOUBLE)
    assert_close(rcft_targets(torch.tensor([q], dtype=DOUBLE), torch.tensor([acc], dtype=DOUBLE)), expected)


def test_rcft_targets_edge_cases():
    # K = 2: the only non-max target is 1 - acc.
    assert_close(
        rcft_targets(torch.tensor([[0.3]]), torch.tensor([0.7])), torch.tensor([[0.3]], dtype=DOUBLE)
    )
    # Underflowed non-max probabilities are a tie: equal targets, still summing to 1 - acc.
    assert_close(rcft_targets(torch.zeros(1, 3), torch.tensor([0.4])), torch.full((1, 3), 0.2, dtype=DOUBLE))
    # A mask gives each row its own K: the masked row behaves exactly like the short row.
    masked = rcft_targets(
        torch.tensor([[0.3, 0.1, 0.0]]), torch.tensor([0.5]), mask=torch.tensor([[True, True, False]])
    )
    short = rcft_targets(torch.tensor([[0.3, 0.1]]), torch.tensor([0.5]))
    assert_close(masked[:, :2], short)
    assert masked[0, 2].item() == 0.0
    # Targets are differentiable in the probabilities they are shaped from (the loss decides to detach).
    assert rcft_targets(torch.tensor([[0.2, 0.1]], requires_grad=True), torch.tensor([0.5])).requires_grad


# --- RCFT loss -------------------------------------------------------------------------------------------

RCFT_PROBS = [[0.4, 0.35, 0.25], [0.05, 0.9, 0.05], [0.7, 0.2, 0.1]]  # p_max 0.4 -> bin 0; 0.9, 0.7 -> bin 1
RCFT_LABELS = [1, 1, 2]
RCFT_BINS = uniform_bins([0.25, 0.8], [4, 10])


def hand_rcft_term(probs: list[float], acc: float) -> float:
    """(p_max - acc)^2 + sum_j (q_j - target_j)^2 for K = 3, straight from the definition."""
    ordered = sorted(probs, reverse=True)
    p_max, nonmax = ordered[0], ordered[1:]
    gamma = math.log(2) / nonmax[0] / (1 - acc)
    shaped = [math.tanh(gamma * q) for q in nonmax]
    weight = (1 - acc) / (sum(shaped) + 2)
    targets = [weight * s + weight for s in shaped]
    return (p_max - acc) ** 2 + sum((q - t) ** 2 for q, t in zip(nonmax, targets, strict=True))


def test_rcft_loss_by_hand_with_two_bins():
    a = 0.3
    inputs = LossInputs(scores_of(RCFT_PROBS), torch.tensor(RCFT_LABELS))
    bottom = hand_rcft_term(RCFT_PROBS[0], 0.25) / 4
    top = (hand_rcft_term(RCFT_PROBS[1], 0.8) + hand_rcft_term(RCFT_PROBS[2], 0.8)) / 10
    nll = -(math.log(0.35) + math.log(0.9) + math.log(0.1)) / 3

    config: dict[str, Any] = {"rcft_alpha": a, "bins": RCFT_BINS}
    assert rcft_calibration_loss(inputs, RCFT_BINS).item() == pytest.approx(bottom + top, abs=1e-12)
    assert loss("rcft", inputs, **config).item() == pytest.approx(
        (1 - a) * nll + a * 1e-3 * (bottom + top), abs=1e-12
    )

    without_top = loss("rcft", inputs, **config, rcft_include_top_bin=False)
    assert loss("rcft", inputs, **config).item() - without_top.item() == pytest.approx(
        a * 1e-3 * top, abs=1e-12
    )


def test_rcft_endpoints_are_cft_and_calibration_only():
    inputs = LossInputs(scores_of(RCFT_PROBS), torch.tensor(RCFT_LABELS))
    assert_close(loss("rcft", inputs, rcft_alpha=0.0, bins=RCFT_BINS), loss("cft", inputs))
    assert_close(
        loss("rcft", inputs, rcft_alpha=1.0, bins=RCFT_BINS),
        1e-3 * rcft_calibration_loss(inputs, RCFT_BINS),
    )
    assert_close(
        loss("rcft", inputs, rcft_alpha=0.25, rcft_scale=2.0, bins=RCFT_BINS),
        0.75 * loss("cft", inputs) + 0.25 * 2.0 * rcft_calibration_loss(inputs, RCFT_BINS),
    )
    with pytest.raises(InputError, match="rcft_scale must be finite and > 0"):
        RcftConfig(rcft_scale=0.0)


def test_rcft_skips_bins_with_no_e_step_examples():
    inputs = LossInputs(scores_of(RCFT_PROBS), torch.tensor(RCFT_LABELS))
    only_bottom = uniform_bins([0.25, 0.0], [4, 0])
    assert rcft_calibration_loss(inputs, only_bottom).item() == pytest.approx(
        hand_rcft_term(RCFT_PROBS[0], 0.25) / 4, abs=1e-12
    )


def test_rcft_gradient_does_not_flow_through_the_targets():
    # With acc = 0 in a single bin the loss is (p_max^2 + sum_j (q_j - t_j)^2) / n with constant t;
    # compare autograd with that formula's gradient written out through the softmax Jacobian.
    scores = torch.tensor([[0.3, -0.2, -1.0]], dtype=DOUBLE, requires_grad=True)
    bins = uniform_bins([0.0], [2])
    rcft_calibration_loss(LossInputs(scores, torch.tensor([0])), bins).backward()
    q = torch.softmax(scores.detach(), dim=1)[0]
    targets = rcft_targets(q[1:].unsqueeze(0), torch.zeros(1))[0]
    d_loss_d_q = torch.cat([2 * q[:1], 2 * (q[1:] - targets)]) / 2
    jacobian = torch.diag(q) - torch.outer(q, q)
    assert_close(scores.grad[0], jacobian @ d_loss_d_q)


# --- E-step statistics ----------------------------------------------------------------------------------


def test_bin_statistics_match_a_manual_loop():
    generator = torch.Generator().manual_seed(0)
    scores = 2 * torch.randn(500, 4, generator=generator, dtype=DOUBLE)
    labels = torch.randint(0, 4, (500,), generator=generator)
    edges = expected_bins(10)
    stats = bin_statistics(scores, labels, edges)
    assert int(stats.count.sum()) == 500
    probs = torch.softmax(scores, dim=1)
    for b in range(10):
        lower, upper = float(edges[b]), float(edges[b + 1])
        members = [
            i for i in range(500) if (lower < probs[i].max() <= upper) or (b == 0 and probs[i].max() <= lower)
        ]
        assert int(stats.count[b]) == len(members)
        hits = sum(int(probs[i].argmax()) == int(labels[i]) for i in members)
        assert stats.accuracy[b].item() == pytest.approx(hits / len(members) if members else 0.0)


def test_bin_statistics_are_right_closed_and_respect_the_mask():
    # p_max exactly 0.5 sits on the inner edge: right-closed bins put it in the first bin.
    scores = torch.tensor([[0.0, 0.0, 7.0], [0.0, -9.0, 0.0]], dtype=DOUBLE)
    mask = torch.tensor([[True, True, False], [True, False, True]])
    stats = bin_statistics(scores, torch.tensor([0, 2]), expected_bins(2), option_mask=mask)
    assert stats.count.tolist() == [2, 0]
    assert stats.accuracy.tolist() == [0.5, 0.0]


def test_expected_bins():
    assert_close(expected_bins(), torch.linspace(0, 1, 11, dtype=DOUBLE))
    assert expected_bins(4).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


# --- numerics --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_every_loss_is_finite_with_finite_nonzero_gradients_on_extreme_scores(name, dtype):
    generator = torch.Generator().manual_seed(1)
    scores = 5 * torch.randn(16, 4, generator=generator)
    scores[::2, 1] = -1e4
    scores[1::4, :] = torch.tensor([-1e4, -1e4, -1e4, -1.0])
    scores[3, 0] = -3e4
    scores = scores.to(dtype).requires_grad_()
    labels = torch.randint(0, 4, (16,), generator=generator)
    known = torch.arange(16) % 3 == 0
    bins = bin_statistics(scores.detach(), labels, expected_bins(10))
    value = loss(name, LossInputs(scores, labels, known), margin=2.0, bins=bins)
    assert value.dim() == 0
    assert bool(torch.isfinite(value))
    assert value.dtype in (torch.float32, torch.float64)
    value.backward()
    assert bool(torch.isfinite(scores.grad).all())
    assert bool((scores.grad != 0).any())


@pytest.mark.parametrize("name", [n for n in NAMES if n != "rcft"])
def test_gradients_agree_with_finite_differences(name):
    # rcft is left out on purpose: its targets are constants by design, which finite differences
    # (that move the targets too) would not reproduce.
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(5, 4, generator=generator, dtype=DOUBLE, requires_grad=True)
    labels = torch.tensor([0, 3, 1, 2, 0])
    known = torch.tensor([True, True, False, True, False])
    config: dict[str, Any] = {"smoothing": 0.2, "alpha": 0.5, "margin": 0.5}
    assert torch.autograd.gradcheck(lambda s: loss(name, LossInputs(s, labels, known), **config), (scores,))


# --- validation ------------------------------------------------------------------------------------------

GOOD = torch.tensor([[-1.0, -2.0], [-0.5, -0.7]])


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: LossInputs(torch.tensor([-1.0, -2.0]), torch.tensor([0])), "option_scores"),
        (lambda: LossInputs(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), "option_scores"),
        (lambda: LossInputs(GOOD.long(), torch.tensor([0, 1])), "option_scores"),
        (
            lambda: LossInputs(torch.tensor([[-1.0, float("nan")], [0.0, 0.0]]), torch.tensor([0, 1])),
            "option_scores",
        ),
        (lambda: LossInputs(GOOD, torch.tensor([0, 1, 1])), "labels"),
        (lambda: LossInputs(GOOD, torch.tensor([0.0, 1.0])), "labels"),
        (lambda: LossInputs(GOOD, torch.tensor([0, 2])), "labels"),
        (lambda: LossInputs(GOOD, torch.tensor([-1, 0])), "labels"),
        (
            lambda: LossInputs(GOOD, torch.tensor([0, 1]), None, torch.tensor([[True, True], [True, False]])),
            "labels",
        ),
        (lambda: LossInputs(GOOD, torch.tensor([0, 1]), torch.tensor([1, 0])), "known"),
        (lambda: LossInputs(GOOD, torch.tensor([0, 1]), torch.tensor([True])), "known"),
        (
            lambda: LossInputs(GOOD, torch.tensor([0, 1]), None, torch.ones(2, 3, dtype=torch.bool)),
            "option_mask",
        ),
        (lambda: LabelSmoothingConfig(smoothing=1.0), "smoothing"),
        (lambda: LabelSmoothingConfig(smoothing=-0.1), "smoothing"),
        (lambda: LabelSmoothingConfig(smoothing=float("nan")), "smoothing"),
        (lambda: CogCalibConfig(alpha=-0.1), "alpha"),
        (lambda: CogCalibConfig(alpha=float("inf")), "alpha"),
        (lambda: MarginCogCalibConfig(alpha=-0.1), "alpha"),
        (lambda: MarginCogCalibConfig(margin=-1.0), "margin"),
        (lambda: RcftConfig(rcft_alpha=1.5), "rcft_alpha"),
        (lambda: RcftConfig(rcft_alpha=-0.5), "rcft_alpha"),
        (lambda: RcftConfig(rcft_scale=float("nan")), "rcft_scale"),
        (
            lambda: LOSSES.get("ls")(LossInputs(GOOD, torch.tensor([0, 1])), CogCalibConfig()),
            "LabelSmoothingConfig",
        ),
        (lambda: loss("rcft", LossInputs(GOOD, torch.tensor([0, 1]))), "bins"),
        (lambda: BinStatistics(torch.zeros(3), torch.zeros(2), expected_bins(2)), "accuracy"),
        (lambda: BinStatistics(torch.zeros(2), torch.zeros(3), expected_bins(2)), "count"),
        (lambda: BinStatistics(torch.tensor([0.0, 1.5]), torch.ones(2), expected_bins(2)), "accuracy"),
        (lambda: BinStatistics(torch.zeros(2), torch.tensor([1, -1]), expected_bins(2)), "count"),
        (lambda: BinStatistics(torch.zeros(2), torch.ones(2), torch.tensor([0.0, 1.0, 0.5])), "edges"),
        (lambda: bin_statistics(GOOD, torch.tensor([0, 1]), torch.tensor([0.5])), "edges"),
        (lambda: rcft_targets(torch.tensor([[0.2, 0.1]]), torch.tensor([1.2])), "accuracy"),
        (lambda: rcft_targets(torch.tensor([[0.2, 0.1]]), torch.tensor([0.5, 0.5])), "accuracy"),
        (lambda: rcft_targets(torch.tensor([0.2, 0.1]), torch.tensor([0.5])), "nonmax_sorted"),
        (lambda: expected_bins(0), "n_bins"),
    ],
)
def test_invalid_inputs_raise_input_error_naming_the_field(build, field):
    with pytest.raises(InputError, match=field):
        build()


# --- RCFT as released: a port of the authors' loss ------------------------------------------------------


def authors_not_max_target(group_accuracy, group_not_max):
    """utils/not_max_target_confidence_new.py of the RCFT release, ported line by line (K = 4)."""
    if group_accuracy == 1.0:
        alpha, gamma, beta = 0, 1, 0
    else:
        constant = torch.log(torch.ones(group_not_max.shape[0], dtype=DOUBLE) * 3).unsqueeze(-1)
        second_max = group_not_max[:, 0].unsqueeze(-1)
        gamma = torch.div(constant, second_max) * (1 / (1 - group_accuracy))
        shaped_sum = torch.tanh(gamma * group_not_max).sum(dim=-1).unsqueeze(-1)
        alpha = (1 - group_accuracy) / (shaped_sum + 3)
        beta = alpha
    return alpha * torch.tanh(gamma * group_not_max) + beta


def authors_calibration_loss(label_logits, accuracy_all, total_count):
    """compute_calibration_loss + group_confidences of train/Custom_Trainer.py, ported: targets are
    computed from the live (non-detached) probabilities, bins are [k/10, (k+1)/10) from
    bucketize(right=True) on linspace(0, 1, 10, endpoint=False), and only bins 0..8 are looped over."""
    upper_boundary = torch.linspace(0, 1, 11, dtype=DOUBLE)[:-1]
    probs = torch.exp(label_logits - torch.logsumexp(label_logits, dim=-1, keepdim=True))
    max_probs = torch.gather(probs, -1, torch.argmax(label_logits, dim=-1, keepdim=True))
    not_max = torch.sort(probs, dim=-1, descending=True)[0][:, 1:5]
    indices = torch.bucketize(max_probs, upper_boundary, right=True).squeeze()
    loss = torch.tensor(0.0, dtype=DOUBLE)
    for k in range(len(upper_boundary) - 1):
        mask = indices == k + 1
        if mask.sum().item() == 0:
            continue
        group_max, group_not_max = max_probs[mask], not_max[mask]
        target = authors_not_max_target(accuracy_all[k], group_not_max)
        loss_k = torch.square(group_max - accuracy_all[k]).sum() + torch.square(group_not_max - target).sum()
        loss = loss + loss_k / total_count[k]
    return loss


def test_rcft_authors_code_reproduces_the_released_gradient():
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(64, 4, generator=generator, dtype=DOUBLE) * 1.5
    accuracy = torch.rand(10, generator=generator, dtype=DOUBLE)
    accuracy[3] = 1.0  # the released code's all-right branch
    count = torch.randint(1, 50, (10,), generator=generator)
    bins = BinStatistics(accuracy, count, expected_bins(10))
    ours_input = logits.clone().requires_grad_(True)
    authors_input = logits.clone().requires_grad_(True)
    ours = rcft_calibration_loss(
        LossInputs(ours_input, torch.zeros(64, dtype=torch.long)), bins, include_top_bin=False,
        target_gradient=True,
    )  # fmt: skip
    theirs = authors_calibration_loss(authors_input, accuracy, count.to(DOUBLE))
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-12)
    ours.backward()
    theirs.backward()
    assert_close(ours_input.grad, authors_input.grad, atol=1e-6, rtol=0)
    # llmcal's default (constant targets) is a different gradient, on the same loss value.
    detached_input = logits.clone().requires_grad_(True)
    detached = rcft_calibration_loss(
        LossInputs(detached_input, torch.zeros(64, dtype=torch.long)), bins, include_top_bin=False
    )
    detached.backward()
    assert detached.item() == pytest.approx(theirs.item(), abs=1e-12)
    assert (detached_input.grad - authors_input.grad).abs().max() > 1e-4


def test_rcft_loss_passes_its_target_gradient_setting_through():
    scores = scores_of(RCFT_PROBS)
    labels = torch.tensor(RCFT_LABELS)
    gradients = []
    for carried in (False, True):
        leaf = scores.clone().requires_grad_(True)
        loss(
            "rcft", LossInputs(leaf, labels), RCFT_BINS, rcft_alpha=1.0, rcft_target_gradient=carried
        ).backward()
        direct = scores.clone().requires_grad_(True)
        (
            1e-3 * rcft_calibration_loss(LossInputs(direct, labels), RCFT_BINS, target_gradient=carried)
        ).backward()
        assert_close(leaf.grad, direct.grad)
        gradients.append(leaf.grad)
    assert not torch.allclose(gradients[0], gradients[1])


def test_rcft_without_e_step_statistics_says_how_to_get_them():
    message = (
        "the rcft loss needs the E-step's BinStatistics as its epoch state; got None. Run the E-step "
        "with rcft_e_step(...) or bin_statistics(...) and pass its bins as epoch_state."
    )
    with pytest.raises(InputError) as error:
        loss("rcft", LossInputs(scores_of(RCFT_PROBS), torch.tensor(RCFT_LABELS)))
    assert str(error.value) == message


def test_rcft_pieces_keep_their_documented_dtypes_for_float32_scores():
    scores = scores_of(RCFT_PROBS).float()
    labels = torch.tensor(RCFT_LABELS)
    stats = bin_statistics(scores, labels, expected_bins(2).float())
    assert (stats.accuracy.dtype, stats.count.dtype, stats.edges.dtype) == (DOUBLE, torch.int64, DOUBLE)
    assert rcft_targets(torch.tensor([[0.2, 0.1]]), torch.tensor([0.5])).dtype == DOUBLE
    assert (
        rcft_calibration_loss(LossInputs(scores, labels), RCFT_BINS).dtype == torch.float32
    )  # working dtype


def test_e_step_bins_outside_the_edges_clamp_to_the_end_bins():
    # p_max at or below the first edge goes to the first bin, above the last edge to the last.
    scores = torch.log(torch.tensor([[0.55, 0.45], [0.95, 0.05]], dtype=DOUBLE))
    low = bin_statistics(scores, torch.tensor([0, 0]), torch.tensor([0.6, 0.8, 1.0], dtype=DOUBLE))
    assert low.count.tolist() == [1, 1]
    high = bin_statistics(scores, torch.tensor([0, 0]), torch.tensor([0.0, 0.3, 0.6], dtype=DOUBLE))
    assert high.count.tolist() == [0, 2]


def test_rcft_counts_a_bin_of_one_and_skips_empty_bins_without_the_top_bin():
    inputs = LossInputs(scores_of(RCFT_PROBS), torch.tensor(RCFT_LABELS))
    one = uniform_bins([0.25, 0.8], [1, 10])  # the E-step saw one example in the bottom bin
    expected = (
        hand_rcft_term(RCFT_PROBS[0], 0.25) / 1
        + (hand_rcft_term(RCFT_PROBS[1], 0.8) + hand_rcft_term(RCFT_PROBS[2], 0.8)) / 10
    )
    assert rcft_calibration_loss(inputs, one).item() == pytest.approx(expected, abs=1e-12)
    # Without the top bin, a bottom bin the E-step never filled contributes nothing.
    empty = uniform_bins([0.0, 0.8], [0, 10])
    assert rcft_calibration_loss(inputs, empty, include_top_bin=False).item() == 0.0


def test_rcft_targets_check_their_mask_word_for_word():
    message = "rcft_targets: mask must be a bool tensor of shape (1, 2); got (1, 2) torch.int64."
    with pytest.raises(InputError) as error:
        rcft_targets(torch.tensor([[0.2, 0.1]]), torch.tensor([0.5]), mask=torch.ones(1, 2, dtype=torch.long))
    assert str(error.value) == message


def test_configs_accept_the_closed_ends_of_their_ranges_and_refuse_infinities():
    # The boundaries themselves: every range check is written so that these, and only these, pass.
    assert LabelSmoothingConfig(smoothing=0.0).smoothing == 0.0
    assert CogCalibConfig(alpha=0.0).alpha == 0.0
    assert MarginCogCalibConfig(alpha=0.0, margin=0.0) == MarginCogCalibConfig(0.0, 0.0)
    assert RcftConfig(rcft_alpha=0.0).rcft_alpha == 0.0
    assert RcftConfig(rcft_alpha=1.0).rcft_alpha == 1.0
    for build, message in [
        (lambda: MarginCogCalibConfig(alpha=math.inf), "MarginCogCalibConfig.alpha must be finite and >= 0"),
        (lambda: MarginCogCalibConfig(margin=math.inf), "MarginCogCalibConfig.margin must be finite"),
        (lambda: RcftConfig(rcft_scale=math.inf), "RcftConfig.rcft_scale must be finite and > 0"),
        (lambda: RcftConfig(rcft_scale=-1.0), "RcftConfig.rcft_scale must be finite and > 0"),
    ]:
        with pytest.raises(InputError, match=message):
            build()


# -- open-ended examples: the token-level terms (killing the survivors of the mutation run) ---------------


def _open_inputs(known: list[bool]) -> LossInputs:
    """Three open-ended examples: the gold answer as the one option, with its answer-token terms."""
    from llmcal.finetune.losses import AnswerTokenTerms

    scores = torch.tensor([[-0.5], [-2.0], [-4.0]], dtype=DOUBLE)
    terms = AnswerTokenTerms(
        uniform_cross_entropy=torch.tensor([6.0, 7.5, 9.0], dtype=DOUBLE),
        negative_entropy=torch.tensor([-1.0, -2.5, -0.25], dtype=DOUBLE),
    )
    return LossInputs(scores, torch.zeros(3, dtype=torch.long), torch.tensor(known), answer_tokens=terms)


def test_cogcalib_ls_on_open_items_smooths_known_answers_token_level():
    inputs = _open_inputs([True, False, True])
    nll = torch.tensor([0.5, 2.0, 4.0], dtype=DOUBLE)
    uniform = inputs.answer_tokens.uniform_cross_entropy
    # NLL + alpha (U - NLL) on known examples, NLL alone on the unknown one.
    expected = (nll + 0.3 * torch.tensor([1.0, 0.0, 1.0], dtype=DOUBLE) * (uniform - nll)).mean()
    assert_close(loss("cogcalib-ls", inputs, alpha=0.3), expected, rtol=0, atol=1e-12)


def test_cogcalib_ecp_on_open_items_penalises_known_answers_entropy():
    inputs = _open_inputs([True, True, False])
    nll = torch.tensor([0.5, 2.0, 4.0], dtype=DOUBLE)
    penalty = torch.tensor([-1.0, -2.5, 0.0], dtype=DOUBLE)  # minus the entropy, known examples only
    assert_close(loss("cogcalib-ecp", inputs, alpha=0.5), (nll + 0.5 * penalty).mean(), rtol=0, atol=1e-12)


def test_open_ended_terms_keep_the_scores_dtype():
    inputs = _open_inputs([True, True, True])
    half = LossInputs(
        inputs.option_scores.float(), inputs.labels, inputs.known, answer_tokens=inputs.answer_tokens
    )
    assert loss("cogcalib-ls", half, alpha=0.3).dtype == torch.float32
    assert loss("cogcalib-ecp", half, alpha=0.3).dtype == torch.float32


@pytest.mark.parametrize("name", ["rcft", "cogcalib-mbls"])
def test_option_losses_refuse_open_items_naming_themselves(name):
    bins = bin_statistics(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), expected_bins())
    with pytest.raises(InputError) as error:
        loss(name, _open_inputs([True, True, True]), bins)
    assert str(error.value).startswith(f"`loss` {name} compares answer options;")
    assert error.value.parameter == "loss"  # the CLI shows it as "--method <name> compares ..."
    assert "Use one of sft, cft, ls, cogcalib-ls, cogcalib-ecp." in str(error.value)


def _terms(uniform: list[float], negative: list[float]):
    from llmcal.finetune.losses import AnswerTokenTerms

    return AnswerTokenTerms(torch.tensor(uniform, dtype=DOUBLE), torch.tensor(negative, dtype=DOUBLE))


_TERMS_ERROR = "LossInputs.answer_tokens.{} must be finite with shape (3,)"


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (([1.0, 2.0], [0.0, 0.0, 0.0]), _TERMS_ERROR.format("uniform_cross_entropy") + "; got shape (2,)."),
        (([1.0, 2.0, 3.0], [0.0, 0.0]), _TERMS_ERROR.format("negative_entropy") + "; got shape (2,)."),
        (([1.0, math.inf, 3.0], [0.0, 0.0, 0.0]), _TERMS_ERROR.format("uniform_cross_entropy")),
        (([1.0, 2.0, 3.0], [0.0, math.nan, 0.0]), _TERMS_ERROR.format("negative_entropy")),
    ],
)
def test_answer_token_terms_are_checked_for_shape_and_finiteness(terms, message):
    scores = torch.tensor([[-1.0], [-2.0], [-3.0]], dtype=DOUBLE)
    with pytest.raises(InputError) as error:
        LossInputs(scores, torch.zeros(3, dtype=torch.long), answer_tokens=_terms(*terms))
    assert str(error.value).startswith(message)
    LossInputs(scores, torch.zeros(3, dtype=torch.long), answer_tokens=_terms([1.0, 2, 3], [0.0, 0, 0]))


def test_errors_name_the_first_bad_row():
    scores = torch.tensor([[-1.0, -2.0], [-1.0, -2.0], [-1.0, -2.0]])
    mask = torch.tensor([[True, True], [True, False], [True, False]])
    with pytest.raises(InputError) as error:
        LossInputs(scores, torch.tensor([0, 1, 1]), option_mask=mask)
    assert (
        str(error.value) == "LossInputs.labels[1] = 1 points at an option that option_mask marks as padding."
    )
    scores[2, 0] = math.nan
    with pytest.raises(InputError) as error:
        LossInputs(scores, torch.tensor([0, 0, 0]), option_mask=mask)
    assert str(error.value).startswith(
        "LossInputs.option_scores[2] has a NaN/inf score on an existing option"
    )


def test_one_option_is_a_valid_batch_and_complex_labels_are_not():
    LossInputs(torch.tensor([[-1.0], [-2.0]]), torch.tensor([0, 0]))  # open-ended: the gold answer alone
    with pytest.raises(
        InputError, match=r"LossInputs.labels must be an integer tensor; got dtype torch\.complex64"
    ):
        LossInputs(torch.tensor([[-1.0, -2.0]]), torch.tensor([0j], dtype=torch.complex64))


def test_padded_slots_read_as_zero_in_the_working_dtype():
    scores = torch.tensor([[-1.0, -math.inf], [-2.0, -3.0]], dtype=torch.float32)
    inputs = LossInputs(scores, torch.tensor([0, 1]), option_mask=torch.tensor([[True, False], [True, True]]))
    assert inputs.scores().tolist() == [[-1.0, 0.0], [-2.0, -3.0]]
    assert inputs.scores(DOUBLE).dtype == DOUBLE


def test_bin_and_config_errors_name_the_field_exactly():
    edges = torch.tensor([0.0, 0.5, 1.0], dtype=DOUBLE)
    with pytest.raises(InputError) as error:
        BinStatistics(torch.zeros(3, dtype=DOUBLE), torch.zeros(2, dtype=torch.long), edges)
    assert str(error.value) == "BinStatistics.accuracy must have shape (2,) for 3 edges; got (3,)."
    with pytest.raises(InputError) as error:
        BinStatistics(torch.zeros(2, dtype=DOUBLE), torch.zeros(1, dtype=torch.long), edges)
    assert str(error.value) == "BinStatistics.count must have shape (2,) for 3 edges; got (1,)."
    with pytest.raises(InputError) as error:
        BinStatistics(torch.zeros(2, dtype=DOUBLE), torch.zeros(2, dtype=torch.long), edges.flip(0))
    assert str(error.value) == "BinStatistics.edges must be finite and non-decreasing; got [1.0, 0.5, 0.0]."
    with pytest.raises(InputError) as error:
        bin_statistics(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), edges.flip(0))
    assert str(error.value) == "bin_statistics: edges must be finite and non-decreasing; got [1.0, 0.5, 0.0]."
    with pytest.raises(InputError) as error:
        CogCalibConfig(alpha=-1.0)
    assert str(error.value) == "CogCalibConfig.alpha must be finite and >= 0; got -1.0."


def test_repeated_edges_are_non_decreasing_and_a_bool_is_not_a_bin_count():
    repeated = torch.tensor([0.0, 0.5, 0.5, 1.0], dtype=DOUBLE)  # an empty middle bin is allowed
    stats = bin_statistics(torch.log(torch.tensor([[0.9, 0.1]])), torch.tensor([0]), repeated)
    assert stats.count.tolist() == [0, 0, 1]
    with pytest.raises(InputError):
        expected_bins(True)


def test_non_finite_scores_say_what_to_try():
    with pytest.raises(InputError) as error:
        LossInputs(torch.tensor([[math.nan, -1.0]]), torch.tensor([0]))
    assert str(error.value) == (
        "LossInputs.option_scores[0] has a NaN/inf score on an existing option (the model produced "
        "non-finite log-probs; try float32)."
    )
