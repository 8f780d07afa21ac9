"""The evaluation classifier, the metrics and the results' provenance."""

import json
import sys
from pathlib import Path

import pytest
import torch

import ddpm_lib as dl
from ddpm_lib import evaluate
from ddpm_lib.evaluation import metrics, provenance
from ddpm_lib.evaluation.classifier import (
    accuracy,
    load_classifier,
    weights_path,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def test_images(fashion_mnist_test):
    return dl.pixels_to_model(fashion_mnist_test.pixels)


def test_shipped_classifier_is_small_and_accurate(
    classifier, test_images, fashion_mnist_test
):
    assert weights_path().stat().st_size < 1_000_000
    acc = accuracy(classifier, test_images, fashion_mnist_test.labels)
    assert acc >= 0.92


def _random_cov(n: int, generator: torch.Generator) -> torch.Tensor:
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return a @ a.T / n + 0.1 * torch.eye(n, dtype=torch.float64)


def test_frechet_distance_of_one_dimensional_gaussians():
    # In one dimension d² = (m₁ − m₂)² + (s₁ − s₂)², standard deviations.
    f64 = torch.float64
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.3)]:
        got = metrics.frechet_distance(
            torch.tensor([m1], dtype=f64),
            torch.tensor([[s1**2]], dtype=f64),
            torch.tensor([m2], dtype=f64),
            torch.tensor([[s2**2]], dtype=f64),
        )
        assert got.item() == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2)


def test_frechet_distance_matches_a_matrix_square_root():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(2, 6, generator=g, dtype=torch.float64)
    cov1, cov2 = _random_cov(6, g), _random_cov(6, g)
    root = scipy_linalg.sqrtm((cov1 @ cov2).numpy()).real
    want = (
        (mu1 - mu2).square().sum()
        + torch.trace(cov1 + cov2)
        - 2 * (float(root.trace()))
    )
    got = metrics.frechet_distance(mu1, cov1, mu2, cov2)
    assert got.item() == pytest.approx(want.item(), rel=1e-9)
    # A distance: symmetric, and zero between a Gaussian and itself.
    back = metrics.frechet_distance(mu2, cov2, mu1, cov1)
    assert back.item() == pytest.approx(got.item(), rel=1e-9)
    same = metrics.frechet_distance(mu1, cov1, mu1, cov1)
    assert abs(same.item()) < 1e-9


def test_frechet_distance_refuses_shapes_that_do_not_match():
    mu, cov = torch.zeros(3), torch.eye(3)
    with pytest.raises(ValueError, match="vectors of one length"):
        metrics.frechet_distance(mu, cov, torch.zeros(4), torch.eye(4))
    with pytest.raises(ValueError, match="covariances must be"):
        metrics.frechet_distance(mu, cov, mu, torch.eye(2))


def test_fcd_is_zero_for_equal_sets_and_orders_floor_below_ceiling(
    classifier, test_images, fashion_mnist_test
):
    x = test_images[:500]
    assert metrics.fcd(x, x, classifier=classifier) == pytest.approx(
        0, abs=1e-3
    )
    train = dl.pixels_to_model(dl.load_images("fashion_mnist").pixels[:500])
    noise = torch.randn(500, 1, 28, 28).clamp(-1, 1)
    floor = metrics.fcd(x, train, classifier=classifier)
    ceiling = metrics.fcd(x, noise, classifier=classifier)
    assert 0 < floor < ceiling / 10
    kid_floor, _ = metrics.kid(x, train, classifier=classifier, subsets=10)
    kid_ceiling, _ = metrics.kid(x, noise, classifier=classifier, subsets=10)
    assert kid_floor < kid_ceiling / 10


def test_fcd_matches_the_formula_on_features(classifier, test_images):
    # ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with scipy's matrix root.
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a, b = test_images[:400], test_images[400:800].flip(-1)  # mirrored
    with torch.no_grad():
        fa = classifier.features(a).double().numpy()
        fb = classifier.features(b).double().numpy()
    import numpy as np

    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a, cov_b = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root = scipy_linalg.sqrtm(cov_a @ cov_b).real
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    got = metrics.fcd(a, b, classifier=classifier)
    assert got == pytest.approx(expected, rel=1e-3)


def test_fcd_agrees_with_torchmetrics(classifier, test_images):
    fid = pytest.importorskip("torchmetrics.image.fid")
    a, b = test_images[:400], test_images[400:800].flip(-1)
    metric = fid.FrechetInceptionDistance(
        feature=metrics._Features(classifier), normalize=True
    )
    metrics._feed(metric, a, real=True, batch_size=1000)
    metrics._feed(metric, b, real=False, batch_size=1000)
    expected = float(metric.compute())
    got = metrics.fcd(a, b, classifier=classifier)
    assert got == pytest.approx(expected, rel=1e-5)


def test_fcd_needs_no_torchmetrics(classifier, test_images, monkeypatch):
    # Colab lacks torchmetrics, and the results page computes an FCD live.
    loaded = [m for m in sys.modules if m.split(".")[0] == "torchmetrics"]
    for name in ["torchmetrics", *loaded]:  # importing any of it fails
        monkeypatch.setitem(sys.modules, name, None)
    a, b = test_images[:300], test_images[300:600]
    assert metrics.fcd(a, b, classifier=classifier) > 0


def test_class_histogram_and_nearest_neighbours(classifier, test_images):
    hist = metrics.class_histogram(test_images, classifier=classifier)
    assert hist.sum().item() == pytest.approx(1)
    assert (hist - 0.1).abs().max() < 0.03  # the test set is balanced
    train = test_images[:100]
    samples = torch.cat([train[7:8], -torch.ones(1, 1, 28, 28)])
    dist, index = metrics.nearest_neighbour_distances(samples, train)
    assert dist[0] == 0 and index[0] == 7
    assert dist[1] > 0.1


def test_toy_metrics_are_exact():
    mix = dl.eight_gaussians()
    good = mix.sample(4000, generator=torch.Generator().manual_seed(1))
    report = metrics.toy_report(good, mix)
    assert abs(report["gap_nats"]) < 0.1
    assert max(abs(s - 1 / 8) for s in report["component_shares"]) < 0.03
    collapsed = good[good[:, 0] > 1]  # only some of the modes
    bad = metrics.toy_report(collapsed, mix)
    assert max(bad["component_shares"]) > 0.3


def test_metric_inputs_are_checked():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.fcd(torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.class_histogram(torch.zeros(1, 1, 28, 28))


def test_evaluate_a_checkpoint_end_to_end(tmp_path, fashion_mnist_test):
    from ddpm_lib import train

    run = tmp_path / "run"
    assert (
        train.main(
            [
                "--out",
                str(run),
                "--steps",
                "2",
                "--T",
                "20",
                "--data-limit",
                "64",
                "--batch-size",
                "8",
                "--no-progress",
            ]
        )  # fmt: skip
        == 0
    )
    out = tmp_path / "report.json"
    code = evaluate.main(
        [
            "--checkpoint", str(run / "checkpoint.pt"), "--n", "40",
            "--steps", "3", "--bpd", "4", "--json", str(out),
            "--save-samples", str(tmp_path / "samples.pt"),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert report["n"] == 40
    model = report["model"]
    assert model["fcd"] > report["floor"]["fcd"]
    saved = torch.load(tmp_path / "samples.pt", weights_only=True)
    assert saved["labels"] is None  # an unconditional model
    assert saved["pixels"].dtype == torch.uint8
    assert saved["pixels"].shape == (40, 1, 28, 28)
    again = metrics.fcd(  # the saved samples are the evaluated ones
        dl.pixels_to_model(fashion_mnist_test.pixels[:40]),
        dl.pixels_to_model(saved["pixels"]),
    )
    assert again == pytest.approx(model["fcd"], rel=0.01)
    assert len(model["class_histogram"]) == 10
    assert (
        model["bits_per_dim"]["n"] == 4 and model["bits_per_dim"]["total"] > 0
    )
    prov = report["provenance"]
    assert prov["checkpoint_sha256"] == provenance.sha256(
        run / "checkpoint.pt"
    )
    provenance.verify_result(out, "/")
    (run / "checkpoint.pt").write_bytes(b"changed")
    with pytest.raises(ValueError, match="has changed"):
        provenance.verify_result(out, "/")


def test_committed_results_match_what_they_describe():
    results = sorted((ROOT / "results").glob("*.json"))
    assert results, "the reference results are committed"
    for path in results:
        provenance.verify_result(path, ROOT)


def test_evaluate_refuses_bad_arguments(capsys, tmp_path):
    assert evaluate.main(["--reference", "--n", "1"]) == 2
    assert "--n must be" in capsys.readouterr().err
    assert evaluate.main(["--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_class_agreement_is_the_share_read_back_as_requested():
    def classifier(x):  # reads the class from the first pixel
        return torch.nn.functional.one_hot(
            ((x[:, 0, 0, 0] + 1) * 4.5).round().long(), 10
        ).float()

    labels = torch.arange(8) % 10
    x = torch.zeros(8, 1, 28, 28)
    x[:, 0, 0, 0] = labels / 4.5 - 1
    assert metrics.class_agreement(x, labels, classifier=classifier) == 1.0
    wrong = labels.clone()
    wrong[:2] = (wrong[:2] + 1) % 10
    assert metrics.class_agreement(
        x, wrong, classifier=classifier, batch_size=3
    ) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="one class per image"):
        metrics.class_agreement(x, labels[:5], classifier=classifier)
