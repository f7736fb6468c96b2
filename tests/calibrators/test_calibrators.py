from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.isotonic import IsotonicRegression

from llmcal import CalibrationWarning, InputError, NotFittedError
from llmcal.calibrators import (
    CALIBRATORS,
    HistogramBinning,
    IsotonicCalibrator,
    PlattScaler,
    TemperatureScaler,
    VectorScaler,
    calibrator_from_dict,
)
from llmcal.metrics import ece, nll, top_label_confidence

from ..conftest import softmax, synthetic_logits

MULTICLASS = [TemperatureScaler, VectorScaler]
TOP_LABEL = [PlattScaler, IsotonicCalibrator, HistogramBinning]


def split(array, n_fit):
    return array[:n_fit], array[n_fit:]


@pytest.mark.parametrize("true_temperature", [0.5, 2.0, 4.0])
def test_temperature_scaling_recovers_the_true_temperature(true_temperature):
    logits, labels = synthetic_logits(20000, 4, true_temperature=true_temperature, seed=3)
    scaler = TemperatureScaler().fit(logits=logits, labels=labels)
    assert scaler.temperature_ == pytest.approx(true_temperature, rel=0.05)


def test_temperature_scaling_lowers_held_out_ece_and_keeps_every_argmax(overconfident_run):
    logits, _probs, labels = overconfident_run
    fit_logits, test_logits = split(logits, 2000)
    fit_labels, test_labels = split(labels, 2000)
    scaler = TemperatureScaler().fit(logits=fit_logits, labels=fit_labels)
    assert scaler.temperature_ > 1.5  # moved, and in the right direction
    calibrated = scaler.transform(logits=test_logits)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), test_logits.argmax(axis=1))
    before = ece(*top_label_confidence(softmax(test_logits), test_labels))
    after = ece(*top_label_confidence(calibrated, test_labels))
    assert after < before / 2
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)


def test_temperature_fit_on_probs_equals_fit_on_logits(overconfident_run):
    logits, probs, labels = overconfident_run
    from_logits = TemperatureScaler().fit(logits=logits, labels=labels)
    from_probs = TemperatureScaler().fit(probs=probs, labels=labels)
    assert from_probs.temperature_ == pytest.approx(from_logits.temperature_, rel=1e-5)
    np.testing.assert_allclose(
        from_probs.transform(probs=probs), from_logits.transform(logits=logits), atol=1e-6
    )


def test_temperature_is_the_nll_minimiser(overconfident_run):
    logits, _, labels = overconfident_run
    fitted = TemperatureScaler().fit(logits=logits, labels=labels).temperature_
    best = nll(softmax(logits / fitted), labels)
    for nearby in (fitted * 0.97, fitted * 1.03):
        assert nll(softmax(logits / nearby), labels) > best


def test_temperature_warns_when_it_hits_a_bound():
    logits = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])  # perfectly separable: T -> 0
    with pytest.warns(CalibrationWarning, match="search bound"):
        TemperatureScaler().fit(logits=logits, labels=[0, 1, 0])


def test_vector_scaling_learns_a_position_bias():
    logits, labels = synthetic_logits(8000, 4, true_temperature=1.0, seed=4)
    biased = logits + np.array([2.0, 0.0, 0.0, 0.0])  # the model over-picks option A
    fit_logits, test_logits = split(biased, 4000)
    fit_labels, test_labels = split(labels, 4000)
    vector = VectorScaler().fit(logits=fit_logits, labels=fit_labels)
    temperature = TemperatureScaler().fit(logits=fit_logits, labels=fit_labels)
    assert vector.biases_[0] - vector.biases_[1:].mean() == pytest.approx(-2.0, abs=0.3)
    assert nll(vector.transform(logits=test_logits), test_labels) < nll(
        temperature.transform(logits=test_logits), test_labels
    )
    with pytest.raises(InputError, match="fitted on 4 options; got 3"):
        vector.transform(logits=test_logits[:, :3])


@pytest.mark.parametrize("calibrator_class", TOP_LABEL)
def test_top_label_calibrators_lower_held_out_ece(calibrator_class, overconfident_run):
    _, probs, labels = overconfident_run
    confidences, correct = top_label_confidence(probs, labels)
    fit_c, test_c = split(confidences, 2000)
    fit_y, test_y = split(correct, 2000)
    calibrator = calibrator_class().fit(confidences=fit_c, correct=fit_y)
    calibrated = calibrator.transform(confidences=test_c)
    assert calibrated.shape == test_c.shape
    assert calibrated.min() >= 0.0
    assert calibrated.max() <= 1.0
    assert ece(calibrated, test_y) < ece(test_c, test_y) / 2


def test_platt_is_monotone_and_shrinks_overconfidence(overconfident_run):
    _, probs, labels = overconfident_run
    platt = PlattScaler().fit(
        confidences=top_label_confidence(probs, labels)[0], correct=top_label_confidence(probs, labels)[1]
    )
    assert 0.0 < platt.slope_ < 1.0
    grid = np.linspace(0.3, 0.999, 50)
    assert np.all(np.diff(platt.transform(confidences=grid)) > 0)


def test_platt_stays_finite_when_every_answer_is_right():
    platt = PlattScaler().fit(confidences=[0.6, 0.7, 0.9], correct=[1, 1, 1])
    assert np.all(np.isfinite([platt.slope_, platt.intercept_]))
    assert platt.transform(confidences=[0.8])[0] < 1.0


def test_isotonic_matches_scikit_learn(overconfident_run):
    _, probs, labels = overconfident_run
    confidences, correct = top_label_confidence(probs, labels)
    confidences = np.round(confidences, 3)  # ties, which both must average
    ours = IsotonicCalibrator().fit(confidences=confidences[:3000], correct=correct[:3000])
    theirs = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        confidences[:3000], correct[:3000]
    )
    test = np.r_[confidences[3000:], 0.0, 1.0]
    np.testing.assert_allclose(ours.transform(confidences=test), theirs.predict(test), atol=1e-12)


def test_histogram_binning_makes_the_fit_set_perfectly_calibrated(overconfident_run):
    _, probs, labels = overconfident_run
    confidences, correct = top_label_confidence(probs, labels)
    for strategy in ("uniform", "quantile"):
        binning = HistogramBinning(n_bins=10, strategy=strategy).fit(confidences=confidences, correct=correct)
        calibrated = binning.transform(confidences=confidences)
        assert ece(calibrated, correct, n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_histogram_binning_keeps_empty_bins_at_their_midpoint():
    binning = HistogramBinning(n_bins=4).fit(confidences=[0.9, 0.95], correct=[1, 0])
    np.testing.assert_allclose(binning.values_, [0.125, 0.375, 0.625, 0.5])


@pytest.mark.parametrize("calibrator_class", MULTICLASS + TOP_LABEL)
def test_unfitted_calibrators_refuse_to_transform_or_save(calibrator_class):
    calibrator = calibrator_class()
    assert not calibrator.is_fitted
    inputs = {"logits": [[1.0, 0.0]]} if calibrator_class in MULTICLASS else {"confidences": [0.5]}
    with pytest.raises(NotFittedError, match="not fitted yet"):
        calibrator.transform(**inputs)
    with pytest.raises(NotFittedError):
        calibrator.to_dict()


@pytest.mark.parametrize("calibrator_class", MULTICLASS + TOP_LABEL)
def test_saved_calibrators_round_trip_through_json(calibrator_class, overconfident_run):
    logits, probs, labels = overconfident_run
    confidences, correct = top_label_confidence(probs, labels)
    if calibrator_class in MULTICLASS:
        fitted = calibrator_class().fit(logits=logits, labels=labels)
        apply = lambda c: c.transform(logits=logits)  # noqa: E731
    else:
        fitted = calibrator_class().fit(confidences=confidences, correct=correct)
        apply = lambda c: c.transform(confidences=confidences)  # noqa: E731
    restored = calibrator_from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert type(restored) is calibrator_class
    assert restored.is_fitted
    np.testing.assert_array_equal(apply(restored), apply(fitted))
    assert calibrator_class.from_dict(fitted.to_dict()).get_params() == fitted.get_params()


def test_loading_checks_what_it_loads():
    logits = [[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]]
    saved = TemperatureScaler().fit(logits=logits, labels=[0, 1, 1, 0]).to_dict()
    with pytest.raises(InputError, match="Expected a saved 'platt' calibrator; got 'temperature'"):
        PlattScaler.from_dict(saved)
    with pytest.raises(InputError, match="malformed"):
        TemperatureScaler.from_dict({**saved, "state": {"temperature": -1.0}})
    with pytest.raises(InputError, match=r"Unknown calibrator 'temprature'\. Did you mean: temperature\?"):
        calibrator_from_dict({**saved, "calibrator": "temprature"})


def test_input_kind_is_explicit():
    with pytest.raises(InputError, match="exactly one of `logits=` or `probs=`"):
        TemperatureScaler().fit(labels=[0, 1])
    with pytest.raises(InputError, match="exactly one"):
        TemperatureScaler().fit(logits=[[1.0, 0.0]], probs=[[1.0, 0.0]], labels=[0])
    with pytest.raises(InputError, match="If these are logits"):
        TemperatureScaler().fit(probs=[[3.0, -1.0]], labels=[0])


def test_registry_lists_every_calibrator():
    assert sorted(CALIBRATORS.names()) == ["histogram", "isotonic", "platt", "temperature", "vector"]


def _concrete_calibrator_classes():
    """Every non-abstract Calibrator subclass defined in any module of the llmcal.calibrators package."""
    import importlib
    import inspect
    import pkgutil

    import llmcal.calibrators
    from llmcal.calibrators.base import Calibrator

    found = []
    for module_info in pkgutil.iter_modules(llmcal.calibrators.__path__):
        module = importlib.import_module(f"llmcal.calibrators.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            defined_here = cls.__module__ == module.__name__
            if defined_here and issubclass(cls, Calibrator) and not inspect.isabstract(cls):
                found.append(cls)
    return found


def test_every_calibrator_class_in_the_package_is_registered_under_its_name():
    classes = _concrete_calibrator_classes()
    assert len(classes) == len(CALIBRATORS)
    for cls in classes:
        assert CALIBRATORS.get(cls.name) is cls, f"{cls.__qualname__} lacks @register_calibrator"


def test_subclassing_alone_registers_nothing_and_registration_checks_the_name():
    from llmcal.calibrators import register_calibrator

    class Unregistered(TemperatureScaler):
        name = "unregistered-test-scaler"

    assert "unregistered-test-scaler" not in CALIBRATORS

    class Nameless(TemperatureScaler):  # would inherit "temperature" and shadow the real one
        pass

    with pytest.raises(TypeError) as error:
        register_calibrator(Nameless)
    assert str(error.value) == (
        "test_subclassing_alone_registers_nothing_and_registration_checks_the_name.<locals>.Nameless has no "
        '`name` of its own; set the class attribute `name = "..."` (the key saved calibrators and the CLI '
        "use) before registering it."
    )

    class Duplicate(TemperatureScaler):
        name = "temperature"

    with pytest.raises(ValueError, match="calibrator 'temperature' is already registered"):
        register_calibrator(Duplicate)
    assert CALIBRATORS.get("temperature") is TemperatureScaler


@settings(max_examples=50, deadline=None)
@given(
    logits=arrays(np.float64, st.tuples(st.integers(5, 40), st.integers(2, 5)), elements=st.floats(-20, 20)),
    seed=st.integers(0, 2**16),
)
def test_temperature_scaling_never_changes_the_argmax(logits, seed):
    labels = np.random.default_rng(seed).integers(0, logits.shape[1], size=len(logits))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # random labels often push T to a bound
        scaler = TemperatureScaler().fit(logits=logits, labels=labels)
    # Division by T > 0 is monotone, so the original winner stays a winner. Two logits closer than the
    # float spacing (e.g. 0 and 5e-324) may become equal, so "a winner", not "the only one"; the softmax
    # can round such near-ties too, hence the check on the scaled logits.
    scaled = scaler.transform_logits(logits=logits)
    rows = np.arange(len(logits))
    np.testing.assert_array_equal(scaled[rows, logits.argmax(axis=1)], scaled.max(axis=1))
    strict = np.sort(logits, axis=1)[:, -1] - np.sort(logits, axis=1)[:, -2] > 1e-9
    np.testing.assert_array_equal(scaled.argmax(axis=1)[strict], logits.argmax(axis=1)[strict])


@pytest.mark.parametrize("seed", [0, 1])
def test_platt_matches_scikit_learns_sigmoid_calibration(seed):
    from scipy.special import expit, logit
    from sklearn.calibration import _sigmoid_calibration

    rng = np.random.default_rng(seed)
    confidences = rng.uniform(0.3, 1.0, size=400)
    correct = (rng.uniform(size=400) < confidences**2).astype(float)
    confidences[:3] = [0.0, 1.0, 1.0]  # saturated confidences are clipped, not infinite
    scaler = PlattScaler().fit(confidences=confidences, correct=correct)
    clipped = logit(np.clip(confidences, 1e-12, 1 - 1e-12))
    slope, intercept = _sigmoid_calibration(clipped, correct)  # sklearn's P = 1 / (1 + exp(a f + b))
    expected = expit(-(slope * clipped + intercept))
    assert scaler.transform(confidences=confidences) == pytest.approx(
        expected, abs=1e-4
    )  # optimiser tolerances
    assert scaler.slope_ == pytest.approx(-slope, rel=1e-3)


def test_loading_names_each_malformed_state_exactly():
    logits = [[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]]
    saved = TemperatureScaler().fit(logits=logits, labels=[0, 1, 1, 0]).to_dict()
    equal_length = "{} and {} must be 1-D arrays of equal length"
    cases = [
        (TemperatureScaler, {"temperature": 0.0}, "temperature must be positive, got 0.0"),
        (VectorScaler, {"weights": [1.0], "biases": [0.0, 0.0]}, equal_length.format("weights", "biases")),
        (VectorScaler, {"weights": [[1.0]], "biases": [[0.0]]}, equal_length.format("weights", "biases")),
        (IsotonicCalibrator, {"thresholds": [0.1], "values": [0.2, 0.3]},
         equal_length.format("thresholds", "values")),
        (IsotonicCalibrator, {"thresholds": [[0.1]], "values": [[0.2]]},
         equal_length.format("thresholds", "values")),
        (HistogramBinning, {"edges": [0.0, 1.0], "values": [0.2, 0.3]},
         "edges must have exactly one more entry than values"),
    ]  # fmt: skip
    for calibrator_class, state, message in cases:
        data = {"calibrator": calibrator_class.name, "format": 1, "params": {}, "state": state}
        expected = f"^Saved '{calibrator_class.name}' calibrator is malformed: {re.escape(message)}$"
        with pytest.raises(InputError, match=expected):
            calibrator_class.from_dict(data)
    assert TemperatureScaler.from_dict({**saved, "state": {"temperature": 0.5}}).temperature_ == 0.5
    with pytest.raises(InputError, match=r"^Saved calibrator has format 7; this llmcal reads format 1\.$"):
        TemperatureScaler.from_dict({**saved, "format": 7})
    with pytest.raises(InputError, match=r"^Expected a saved 'temperature' calibrator; got 'list'\.$"):
        TemperatureScaler.from_dict([1, 2])
    message = r"^A saved calibrator must be a dict with a 'calibrator' key \(see Calibrator\.to_dict\)\.$"
    for bad in ({"format": 1}, ["calibrator"]):
        with pytest.raises(InputError, match=message):
            calibrator_from_dict(bad)


def test_vector_scaling_minimises_its_regularised_nll():
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    logits, labels = synthetic_logits(300, 3, true_temperature=2.0, seed=5)
    l2 = 0.05  # strong enough that the penalty visibly pulls toward the identity map
    scaler = VectorScaler(l2=l2).fit(logits=logits, labels=labels)

    def objective(params):  # written from the docstring, minimised without gradients
        scaled = logits * params[:3] + params[3:]
        penalty = params - np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
        return -np.mean(log_softmax(scaled, axis=1)[np.arange(300), labels]) + l2 * penalty @ penalty

    options = {"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000}
    start = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    reference = minimize(objective, start, method="Nelder-Mead", options=options)
    assert np.concatenate([scaler.weights_, scaler.biases_]) == pytest.approx(reference.x, abs=1e-3)
    # Probabilities in, the same fit as their logs.
    probs = np.exp(log_softmax(logits, axis=1))
    from_probs = VectorScaler(l2=l2).fit(probs=probs, labels=labels)
    assert from_probs.weights_ == pytest.approx(
        VectorScaler(l2=l2).fit(logits=np.log(probs), labels=labels).weights_
    )
    assert VectorScaler(l2=0.0).fit(logits=logits, labels=labels).is_fitted  # l2 = 0 is allowed
    with pytest.raises(InputError, match=r"^`l2` must be >= 0; got -1\.0\.$"):
        VectorScaler(l2=-1.0).fit(logits=logits, labels=labels)


def test_histogram_binning_uses_a_bin_with_a_single_item():
    calibrator = HistogramBinning(n_bins=2).fit(confidences=[0.2, 0.9], correct=[1, 0])
    assert calibrator.transform(confidences=[0.1, 0.8]).tolist() == [1.0, 0.0]


def test_platt_priors_on_a_small_held_out_set_match_scikit_learn():
    # With 3 wrong answers among 12 the prior correction 1 / (N- + 2) is large (0.2), so a wrong prior shows.
    from scipy.special import expit, logit
    from sklearn.calibration import _sigmoid_calibration

    confidences = np.array([0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.9, 0.6, 0.55, 0.8, 0.7])
    correct = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1], dtype=float)
    scaler = PlattScaler().fit(confidences=confidences, correct=correct)
    slope, intercept = _sigmoid_calibration(logit(confidences), correct)
    expected = expit(-(slope * logit(confidences) + intercept))
    assert scaler.transform(confidences=confidences) == pytest.approx(expected, abs=1e-4)


def test_calibrators_describe_themselves_by_class_and_parameters():
    assert (
        repr(HistogramBinning(n_bins=7, strategy="quantile"))
        == "HistogramBinning(n_bins=7, strategy='quantile')"
    )
    assert repr(VectorScaler(l2=0.5)) == "VectorScaler(l2=0.5)"
    assert repr(PlattScaler()) == "PlattScaler()"
    assert HistogramBinning().get_params() == {"n_bins": 15, "strategy": "uniform"}  # the documented defaults


def test_histogram_binning_with_empty_bins_warns_about_nothing():
    calibrator = HistogramBinning(n_bins=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrator.fit(confidences=[0.05, 0.95], correct=[0, 1])  # eight of the ten bins are empty
    assert calibrator.transform(confidences=[0.05, 0.95]).tolist() == [0.0, 1.0]


def test_temperature_warns_at_the_upper_bound_too_and_checks_its_bounds():
    rng = np.random.default_rng(2)
    logits = rng.normal(0.0, 4.0, size=(300, 3))
    labels = rng.integers(0, 3, size=300)  # unrelated to the logits: the best temperature is infinite
    with pytest.warns(CalibrationWarning) as caught:
        TemperatureScaler(bounds=(0.5, 4.0)).fit(logits=logits, labels=labels)
    assert str(caught[0].message) == (
        "Fitted temperature 4 is at the search bound (0.5, 4.0); the held-out data may be (nearly) "
        "separable or too small. Widen `bounds` or add data."
    )
    for bounds in ((0.0, 5.0), (2.0, 2.0), (3.0, 1.0)):
        with pytest.raises(InputError) as error:
            TemperatureScaler(bounds=bounds).fit(logits=logits, labels=labels)
        assert str(error.value) == f"`bounds` must satisfy 0 < low < high; got {tuple(map(float, bounds))}."


def test_a_normal_temperature_fit_raises_no_warning(overconfident_run):
    logits, _, labels = overconfident_run
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an optimiser option scipy does not know would warn
        TemperatureScaler().fit(logits=logits[:500], labels=labels[:500])


def test_fitting_and_loading_messages_word_for_word():
    with pytest.raises(NotFittedError) as error:
        TemperatureScaler().transform(logits=[[1.0, 0.0]])
    assert (
        str(error.value) == "This TemperatureScaler is not fitted yet; call fit(...) on held-out data first."
    )
    with pytest.raises(InputError) as error:
        TemperatureScaler().fit(labels=[0])
    assert str(error.value) == "Pass exactly one of `logits=` or `probs=`."
    vector = VectorScaler().fit(logits=[[1.0, 0.0], [0.0, 1.0]], labels=[0, 1])
    with pytest.raises(InputError) as error:
        vector.transform(logits=[[1.0, 0.0, 0.0]])
    assert str(error.value) == "VectorScaler was fitted on 2 options; got 3."


def test_platt_maps_a_zero_confidence_to_a_small_positive_one():
    scaler = PlattScaler().fit(confidences=[0.9, 0.8, 0.7, 0.6], correct=[1, 1, 0, 1])
    low, high = scaler.transform(confidences=[0.0, 1.0])
    assert 0.0 < low < 1e-3
    assert 1.0 - 1e-3 < high <= 1.0
