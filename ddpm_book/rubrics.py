"""Grading rubrics for the pen-and-paper exercises, and a difficulty each.

The coding exercises grade themselves (:mod:`ddpm_book.exercises`); the
pen-and-paper ones, a derivation or an explanation with a worked solution
behind a dropdown, need a person. This module holds what that person
needs, as plain data: one :class:`Rubric` per pen-and-paper exercise,
saying what a full-credit answer shows part by part and which mistakes
cost how much, and one :class:`Difficulty` per exercise of either kind.
A generator turns them into an instructor's guide and a course folder
(which exercises to hand out, with their points); the site does not
publish either, so a student reading the book never sees the rubrics.

Keys are the exercises' labels (``ex-fwd-lt``, …), the ``:label:`` of the
exercise in its chapter notebook; ``book/exercises.md`` lists them all.
The conventions are the book's: 1 ≤ t ≤ T, ᾱ_t = ∏_{s=1}^{t} (1 − β_s),
β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t, and the linear schedule 10⁻⁴ → 0.02
over T = 1000 steps unless an exercise says otherwise. Texts are plain
text with Unicode math, so they read the same in Markdown, HTML and a
terminal.

The difficulty scale:

1. applies a formula shown in the chapter;
2. combines two steps, or needs care with indexing or shapes;
3. a derivation or design beyond the chapter's text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DIFFICULTY",
    "LEVELS",
    "RUBRICS",
    "Criterion",
    "Difficulty",
    "Rubric",
]

# The difficulty scale of the module docstring, level → meaning.
LEVELS = {
    1: "applies a formula shown in the chapter",
    2: "combines two steps, or needs care with indexing or shapes",
    3: "a derivation or design beyond the chapter's text",
}


@dataclass(frozen=True)
class Criterion:
    """One part of a full-credit answer and what it is worth.

    Attributes:
        points: The points a teaching assistant gives when the answer
            shows what ``text`` says (a positive integer).
        text: What the answer shows: the key step, the result with its
            value or expression, the justification.
    """

    points: int
    text: str

    def __post_init__(self):
        if not isinstance(self.points, int) or self.points <= 0:
            raise ValueError(
                f"a criterion is worth a positive whole number of points, "
                f"not {self.points!r}"
            )


@dataclass(frozen=True)
class Rubric:
    """How to grade one pen-and-paper exercise.

    Attributes:
        label: The exercise's label in its chapter notebook.
        criteria: The parts of a full-credit answer, in the order of the
            exercise's questions ((a), (b), … each have their own).
        common_errors: Mistakes students typically make on this exercise,
            each followed by the points it costs ("…: −1").
    """

    label: str
    criteria: tuple[Criterion, ...]
    common_errors: tuple[str, ...] = ()

    @property
    def points(self) -> int:
        """The exercise's total: the sum of its criteria's points."""
        return sum(criterion.points for criterion in self.criteria)


@dataclass(frozen=True)
class Difficulty:
    """How hard one exercise is, on the scale of :data:`LEVELS`.

    Attributes:
        level: 1, 2 or 3 (see the module docstring).
        why: One sentence on what makes this exercise that hard.
    """

    level: int
    why: str

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(
                f"a difficulty level is one of {sorted(LEVELS)}, "
                f"not {self.level!r}"
            )


_RUBRICS = (
    # -- schedules -------------------------------------------------------
    Rubric(
        label="ex-sched-rescale",
        criteria=(
            Criterion(
                1,
                "(a) Writes log ᾱ_T = Σ_{t=1}^{T} log(1 − β_t) ≈ −Σ β_t − "
                "½ Σ β_t², and sums the first-order part as an arithmetic "
                "series: Σ β_t = T (β_1 + β_T)/2.",
            ),
            Criterion(
                1,
                "(a) Gets the second-order part from the average of β_t²: "
                "β_t runs evenly from β_1 to β_T, so (1/T) Σ β_t² ≈ the "
                "mean of (β_1 + (β_T − β_1) u)² over u in [0, 1] = "
                "(β_1² + β_1 β_T + β_T²)/3, and ½ · T · that is "
                "T (β_1² + β_1 β_T + β_T²)/6 (an integral or the exact "
                "discrete sum, equal up to O(1/T), both earn the point).",
            ),
            Criterion(
                1,
                "(b) First term: T times a sum of β's, T/10 · 10 = 1, "
                "unchanged. Second term: T times squares of β's, "
                "T/10 · 100 = 10, ten times larger.",
            ),
            Criterion(
                1,
                "(c) T = 100 (β from 10⁻³ to 0.2): the first term stays "
                "10.05, the second grows from about 0.067 to 0.67, so "
                "log ᾱ_T drops by about 0.6 and ᾱ_T is multiplied by "
                "e^(−0.6) ≈ 0.55, about half (≈ 2.2×10⁻⁵ against "
                "4.04×10⁻⁵; credit also for noting that the table's "
                "2.04×10⁻⁵ includes the next term, −Σ β_t³/3, no longer "
                "small with β_T = 0.2).",
            ),
            Criterion(
                1,
                "(c) T = 4000 (β divided by 4): the second term shrinks to "
                "about 0.017, log ᾱ_T rises by about 0.05, so ᾱ_T is only "
                "about 5% larger (≈ 4.25×10⁻⁵); concludes that rescaling "
                "the range by 1000/T keeps ᾱ_T to first order only.",
            ),
        ),
        common_errors=(
            "sums β_t as T β_T or T β_1 instead of T times the average of "
            "the two ends: −1",
            "drops the ½ of the β²/2 term and gets the factor 1/3 instead "
            "of 1/6: −1",
            "takes the mean of β_t² to be the square of the mean, "
            "((β_1 + β_T)/2)², giving T (β_1 + β_T)²/8: −1",
            "in (b) says the second term grows 100 times, forgetting that "
            "T shrinks by 10: −1",
            "in (c) reads a tenfold second term as a tenfold ᾱ_T, instead "
            "of a factor e^(−Δ) with Δ the change of the term: −1",
        ),
    ),
    Rubric(
        label="ex-sched-clip",
        criteria=(
            Criterion(
                1,
                "Evaluates f(T) = cos²((1 + s)/(1 + s) · π/2) = cos²(π/2) "
                "= 0, so ᾱ_T = 0 and β_T = 1 − ᾱ_T/ᾱ_{T−1} = 1, α_T = 0.",
            ),
            Criterion(
                1,
                "The forward step becomes x_T = 0 · x_{T−1} + 1 · ε: it "
                "discards whatever x_{T−1} held and returns pure noise "
                "(harmless in the forward direction).",
            ),
            Criterion(
                1,
                "In reverse, the step at t = T divides by √α_T = 0 (and "
                "x̂_0 by √ᾱ_T = 0): a division by zero, an infinite or NaN "
                "mean; equivalently the log-SNR at T is −∞.",
            ),
            Criterion(
                1,
                "With the clip β_T = 0.999, α_T = 0.001 and ᾱ_T = 0.001 · "
                "ᾱ_{T−1}; for T = 1000, ᾱ_999 ≈ 2.4×10⁻⁶ gives "
                "ᾱ_T ≈ 2.4×10⁻⁹: tiny but positive, and only the last "
                "step changes (β_999 ≈ 0.75 is below the clip).",
            ),
        ),
        common_errors=(
            "drops the offset or the division by 1 + s and concludes that "
            "f(T) > 0, so nothing needs clipping: −1",
            "says the clip sets ᾱ_T to 0.001 (or leaves it at 0) instead "
            "of 0.001 · ᾱ_{T−1}: −1",
            "claims the forward process breaks at t = T (it only "
            "multiplies by √α_T = 0, which is finite): −1",
        ),
    ),
    # -- forward ---------------------------------------------------------
    Rubric(
        label="ex-fwd-forgotten-root",
        criteria=(
            Criterion(
                1,
                "m_t = (1 − β)^t → 0 because 0 < 1 − β < 1: the mean still "
                "forgets x_0.",
            ),
            Criterion(
                1,
                "Sets up the variance recursion with the squared scale, "
                "v_t = (1 − β)² v_{t−1} + β, and solves the fixed point "
                "v = (1 − β)² v + β: v = β/(1 − (1 − β)²) = β/(2β − β²) "
                "= 1/(2 − β).",
            ),
            Criterion(
                1,
                "Justifies the limit: (1 − β)² < 1 makes the recursion a "
                "contraction (or the closed form v_t = "
                "(1 − (1 − β)^(2t))/(2 − β) from v_0 = 0), and notes "
                "1/(2 − β) is just above ½ for small β.",
            ),
            Criterion(
                1,
                "x_t → N(0, 1/(2 − β) I), not N(0, I): a sampler that "
                "starts from N(0, I) starts with about twice the variance "
                "(√2 times the standard deviation) of anything the reverse "
                "process was trained on.",
            ),
        ),
        common_errors=(
            "writes the variance recursion with c_t instead of c_t², "
            "v_t = (1 − β) v_{t−1} + β, and finds the limit 1 (DDPM's "
            "answer): −2",
            "quotes the limit ½ from the chapter's figure without the "
            "fixed-point computation or its dependence on β: −1",
            "names the limit distribution but not why it hurts a sampler "
            "that starts from N(0, I): −1",
        ),
    ),
    Rubric(
        label="ex-fwd-lt",
        criteria=(
            Criterion(
                1,
                "(a) Substitutes μ_1 = √ᾱ_T x_0, σ_1² = 1 − ᾱ_T, μ_2 = 0, "
                "σ_2² = 1 into the KL formula: per pixel "
                "½ (−log(1 − ᾱ_T) + (1 − ᾱ_T) + ᾱ_T x_0² − 1).",
            ),
            Criterion(
                1,
                "(a) Expands −log(1 − a) = a + a²/2 + O(a³): the −ᾱ_T "
                "cancels and the KL is ½ ᾱ_T x_0² + ᾱ_T²/4 + O(ᾱ_T³), so "
                "the neglected term is of order ᾱ_T² (≈ 4×10⁻¹⁰ nats for "
                "ᾱ_T = 4.04×10⁻⁵).",
            ),
            Criterion(
                1,
                "(b) All pixels 0: the first-order term vanishes and only "
                "ᾱ_T²/4 nats is left, ᾱ_T²/(4 ln 2) ≈ 6×10⁻¹⁰ bits per "
                "dimension (“0 to first order” earns the point only if "
                "the next order is named).",
            ),
            Criterion(
                1,
                "(b) All pixels ±1: x_0² = 1 in every dimension, "
                "ᾱ_T/(2 ln 2) ≈ 2.9×10⁻⁵ bits per dimension.",
            ),
            Criterion(
                1,
                "(c) Exact for x_0² = 1: the bracket is −log(1 − ᾱ_T) = "
                "−log 0.64 ≈ 0.446 nats, so L_T ≈ 0.223 nats ≈ 0.32 bits "
                "per dimension.",
            ),
            Criterion(
                1,
                "(c) The first-order formula gives 0.36/(2 ln 2) ≈ 0.26 "
                "bits, about 20% low: the approximation needs ᾱ_T ≪ 1, and "
                "an L_T this large says x_T is far from N(0, I), so T and "
                "the β range must be chosen together.",
            ),
        ),
        common_errors=(
            "puts standard deviations where the KL has variances (σ_1² = "
            "√(1 − ᾱ_T), or μ_1 = ᾱ_T x_0): −1",
            "claims the neglected term is of order ᾱ_T, or calls the "
            "first-order result exact: −1",
            "forgets to divide by ln 2 (answers in nats), or multiplies by "
            "it: −1",
            "sums over the pixels of an image instead of reporting bits "
            "per dimension: −1",
            "in (c) applies the first-order formula again instead of "
            "evaluating the exact KL: −1",
        ),
    ),
    # -- posterior -------------------------------------------------------
    Rubric(
        label="ex-posterior-gaussian-data",
        criteria=(
            Criterion(
                1,
                "From x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with x_0 and ε "
                "independent, the variances add: v_t = ᾱ_t s² + 1 − ᾱ_t.",
            ),
            Criterion(
                1,
                "From one step, x_t = √α_t x_{t−1} + √β_t ε′ with ε′ "
                "independent of x_{t−1}: Cov(x_{t−1}, x_t) = √α_t v_{t−1} "
                "and v_t = α_t v_{t−1} + β_t.",
            ),
            Criterion(
                1,
                "Conditions the jointly Gaussian pair: Var(x_{t−1} | x_t) "
                "= v_{t−1} − Cov²/v_t = v_{t−1} − α_t v_{t−1}²/v_t = "
                "v_{t−1}(v_t − α_t v_{t−1})/v_t = β_t v_{t−1}/v_t.",
            ),
            Criterion(
                1,
                "Special cases: s = 1 makes every v_t = 1, giving β_t; "
                "s = 0 makes v_t = 1 − ᾱ_t, giving β_t (1 − ᾱ_{t−1})/"
                "(1 − ᾱ_t) = β̃_t.",
            ),
            Criterion(
                1,
                "Larger than β_t exactly when v_{t−1} > v_t; since "
                "v_t − v_{t−1} = (ᾱ_{t−1} − ᾱ_t)(1 − s²) and ᾱ_{t−1} > "
                "ᾱ_t, that is s > 1 (|s| > 1); s = 1 gives equality.",
            ),
        ),
        common_errors=(
            "computes the forward variance Var(x_t | x_{t−1}) = β_t and "
            "calls it the backward one: −2",
            "takes Cov(x_{t−1}, x_t) = α_t v_{t−1} (no square root), or "
            "v_t = √α_t v_{t−1} + β_t: −1",
            "inverts the ratio in the s = 0 case, (1 − ᾱ_t)/(1 − ᾱ_{t−1}) "
            "· β_t: −1",
            "answers s < 1 for the last question (the sign of 1 − s² "
            "flipped): −1",
            "treats s as a variance, writing v_t = ᾱ_t s + 1 − ᾱ_t: −1",
        ),
    ),
    # -- objective -------------------------------------------------------
    Rubric(
        label="ex-objective-weights",
        criteria=(
            Criterion(
                1,
                "(a) Puts σ_t² = β_t into λ_t = β_t²/(2 σ_t² α_t "
                "(1 − ᾱ_t)) and cancels one β_t: λ_t = β_t/(2 α_t "
                "(1 − ᾱ_t)).",
            ),
            Criterion(
                1,
                "(a) At t = 1, ᾱ_1 = α_1, so 1 − ᾱ_1 = β_1 cancels the "
                "remaining β_1: λ_1 = 1/(2 α_1) ≈ 0.5 for β_1 = 10⁻⁴.",
            ),
            Criterion(
                1,
                "(b) 1/SNR_t = (1 − ᾱ_t)/ᾱ_t grows with t because ᾱ_t "
                "falls: the weight is largest at t = T, the noisy end.",
            ),
            Criterion(
                1,
                "(b) About β_1/(1 − β_1) ≈ 10⁻⁴ at t = 1 and about "
                "1/ᾱ_T ≈ 1/(4×10⁻⁵) ≈ 2.5×10⁴ at t = T: a ratio of about "
                "2.5×10⁸ (any answer of order 10⁸ earns the point).",
            ),
            Criterion(
                1,
                "(b) Consequence: the loss is dominated by the noisiest "
                "steps, where the best x_0 is little more than an average "
                "image, and the low-noise steps that carry fine detail "
                "are learned poorly; a reason to predict ε or v, or to "
                "reweight the x_0 loss.",
            ),
        ),
        common_errors=(
            "weights by SNR_t instead of 1/SNR_t and concludes the weight "
            "is largest at t = 1: −2",
            "cancels both powers of β_t, λ_t = 1/(2 α_t (1 − ᾱ_t)), as "
            "σ_t = β_t would give: −1",
            "estimates 1/SNR_T from β_T = 0.02 instead of ᾱ_T (about 50 "
            "instead of 2.5×10⁴): −1",
            "gives the ratio as 1/SNR_T alone (about 10⁴), forgetting the "
            "10⁻⁴ at t = 1: −1",
        ),
    ),
    # -- network ---------------------------------------------------------
    Rubric(
        label="ex-network-shapes",
        criteria=(
            Criterion(
                1,
                "down.3.0 outputs (128, 56, 14, 14): the first block of "
                "the second level widens 28 channels to 56 at the 14×14 "
                "resolution left by the downsampling in down.2.0.",
            ),
            Criterion(
                1,
                "Its time_proj outputs (128, 56): one number per output "
                "channel and example, broadcast over H and W when added.",
            ),
            Criterion(
                2,
                "up.4.0 receives (128, 168, 14, 14) after the "
                "concatenation (1 point for the shape), made of the "
                "112-channel map of the lowest level that up.3.0 upsampled "
                "to 14×14 and the 56-channel skip kept from down.4.0, the "
                "last block of the second level, popped last in first out "
                "(1 point for naming both parts).",
            ),
        ),
        common_errors=(
            "gives time_proj the shape of the feature map, (128, 56, 14, "
            "14), or of temb, (128, 112): −1",
            "forgets the skip connection at up.4.0, (128, 112, 14, 14), "
            "or adds it instead of concatenating: −1",
            "takes a skip from the wrong resolution or level (28 "
            "channels, giving 140, or a 7×7 map): −1",
            "puts the downsampling inside down.3.0 and answers 7×7: −1",
        ),
    ),
    # -- sampling --------------------------------------------------------
    Rubric(
        label="ex-sampling-cost",
        criteria=(
            Criterion(
                1,
                "DDPM makes T = 1000 network calls on the same batch, the "
                "benchmark made S calls (its DDIM steps) on that batch: "
                "the time is the benchmark's times 1000/S (with "
                "results/bench/cpu_sample.json as committed, 64 images, "
                "50 steps, about 24 s: about 490 s, roughly 8 minutes).",
            ),
            Criterion(
                1,
                "Assumption: every network call costs the same whatever "
                "the step t, which holds because the network does the "
                "same work at every t, so the time is proportional to "
                "the number of calls.",
            ),
            Criterion(
                1,
                "Assumption: the sampler's own arithmetic (the update, "
                "the noise draws) is negligible next to the network; same "
                "machine, threads and batch size.",
            ),
        ),
        common_errors=(
            "also scales by the number of images, although the batch is "
            "the same: −1",
            "scales by S/1000 instead of 1000/S, or quotes the DDIM time: −1",
            "uses the guided benchmark row, which makes two network calls "
            "per step: −1",
            "names an assumption the estimate does not make (that DDPM "
            "and DDIM images are equally good) instead of the cost per "
            "call: −1",
        ),
    ),
    # -- evaluation ------------------------------------------------------
    Rubric(
        label="ex-evaluation-decoder",
        criteria=(
            Criterion(
                1,
                "1. Inner pixel: its bin [x_0 − 1/255, x_0 + 1/255] lies "
                "from −z to +z standard deviations around the mean, so "
                "p = Φ(z) − Φ(−z) = 2Φ(z) − 1.",
            ),
            Criterion(
                1,
                "1. Black pixel (level 0, x_0 = −1): the bin is open to "
                "the left, from −∞ to −1 + 1/255, that is to +z: "
                "p = Φ(z).",
            ),
            Criterion(
                1,
                "2. The difference Φ(z) − (2Φ(z) − 1) = 1 − Φ(z) > 0: the "
                "black bin also collects the Gaussian's left tail beyond "
                "where an inner bin would end, so its p is larger and "
                "−log₂ p smaller (with the book's schedule z ≈ 0.53: "
                "about 1.3 bits for an inner pixel, 0.5 for a black one).",
            ),
            Criterion(
                1,
                "3. As σ_1 → 0, z → ∞ and both probabilities tend to 1: "
                "L_0 → 0 for the perfect network (while a mean that leaves "
                "the pixel's bin costs without limit).",
            ),
            Criterion(
                1,
                "3. With the density, −log N(x_0; x_0, σ_1²) = "
                "½ log(2π σ_1²) → −∞: a model of data on 256 levels could "
                "make its “likelihood” unbounded; bin masses are "
                "probabilities at most 1, so L_0 ≥ 0 and bits/dim mean "
                "what they say.",
            ),
        ),
        common_errors=(
            "uses a bin half or twice as wide (±1/510 or ±2/255), "
            "changing z by a factor 2: −1",
            "writes the black pixel as Φ(−z) or 1 − Φ(z), the wrong tail: −1",
            "explains the cheaper black pixel by how often black occurs "
            "in the data rather than by its bin: −1",
            "gets the sign of ½ log(2π σ_1²) wrong and says the density "
            "version tends to +∞ or to 0: −1",
        ),
    ),
    # -- guidance --------------------------------------------------------
    Rubric(
        label="ex-guidance-scale",
        criteria=(
            Criterion(
                1,
                "Expands ε_θ(x_t) + s (ε_θ(x_t, c) − ε_θ(x_t)) = "
                "s ε_θ(x_t, c) − (s − 1) ε_θ(x_t) and matches it with "
                "(1 + w) ε_θ(x_t, c) − w ε_θ(x_t): w = s − 1.",
            ),
            Criterion(
                1,
                "No guidance, w = 0, is s = 1: the plain conditional "
                "model ε_θ(x_t, c).",
            ),
            Criterion(
                1,
                "s = 0 leaves ε_θ(x_t) alone: the unconditional model, "
                "the label ignored (w = −1, outside w ≥ 0, which the "
                "library refuses).",
            ),
            Criterion(
                1,
                "s = 7.5 is w = 6.5; of the explorer's weights the "
                "closest is w = 6 (6.5 lies between 6 and 8; a fast build "
                "shows only 0, 2 and 8, where 8 is right): strong "
                "guidance.",
            ),
        ),
        common_errors=(
            "takes w = s, so that s = 7.5 becomes w = 7.5 and the "
            "closest weight 8: −2",
            "calls s = 0 “no guidance”: −1",
            "says s = 1 samples the unconditional model: −1",
        ),
    ),
)

# One rubric per pen-and-paper exercise, by label.
RUBRICS: dict[str, Rubric] = {rubric.label: rubric for rubric in _RUBRICS}

# One difficulty per exercise, coding and pen and paper, by label, in the
# order of the chapters.
DIFFICULTY: dict[str, Difficulty] = {
    # schedules
    "ex-sched-cosine": Difficulty(
        1,
        "Evaluates Nichol and Dhariwal's f(t)/f(0) at t = 0, …, T as "
        "written in the chapter, the square and the offset included.",
    ),
    "ex-sched-alpha-bar": Difficulty(
        1,
        "A cumulative product of 1 − β_t, with β_0 = 0 giving ᾱ_0 = 1 "
        "for free.",
    ),
    "ex-sched-rescale": Difficulty(
        3,
        "Needs the second-order term of log(1 − β) summed over a linear "
        "schedule, a computation the chapter only alludes to.",
    ),
    "ex-sched-clip": Difficulty(
        2,
        "Combines the cosine curve at t = T with β_t = 1 − ᾱ_t/ᾱ_{t−1} "
        "and follows the result into the reverse step of a later "
        "chapter.",
    ),
    # forward
    "ex-fwd-q-sample": Difficulty(
        1,
        "Transcribes the reparameterised sample with the square roots, "
        "using coef_at for the per-example coefficients.",
    ),
    "ex-fwd-x0-from-eps": Difficulty(
        1,
        "Inverts the reparameterisation given in the statement, with the "
        "same conventions as q_sample.",
    ),
    "ex-fwd-forgotten-root": Difficulty(
        2,
        "Runs the chapter's general recursion with a wrong scale and "
        "needs the fixed point of the variance recursion, which the "
        "chapter only states as about one half.",
    ),
    "ex-fwd-lt": Difficulty(
        2,
        "Combines the Gaussian KL with a second-order Taylor expansion "
        "and careful unit handling, nats against bits per dimension.",
    ),
    # posterior
    "ex-posterior-q-posterior": Difficulty(
        2,
        "Two coefficients and a variance that mix ᾱ_t with ᾱ_{t−1}, so "
        "the index t − 1 must be right in each.",
    ),
    "ex-posterior-mu-theta": Difficulty(
        1,
        "Writes the chapter's μ_θ from the noise prediction, with the "
        "schedule indexed by t itself as the statement says.",
    ),
    "ex-posterior-ddpm-step": Difficulty(
        2,
        "Combines the mean with scaled noise and must switch the noise "
        "off per example where t = 1 in a batch of mixed steps.",
    ),
    "ex-posterior-gaussian-data": Difficulty(
        3,
        "Conditioning a jointly Gaussian pair on x_t is a derivation the "
        "chapter does not carry out, followed by a sign analysis in s.",
    ),
    # objective
    "ex-objective-normal-kl": Difficulty(
        1,
        "The chapter's closed-form KL between two Gaussians, element by "
        "element, with variances as arguments.",
    ),
    "ex-objective-loss-simple": Difficulty(
        1,
        "Line 5 of Algorithm 1 with dl.q_sample allowed: noise, predict, "
        "take the mean squared error.",
    ),
    "ex-objective-weights": Difficulty(
        2,
        "Combines the substitution σ_t² = β_t with ᾱ_1 = α_1, then "
        "evaluates 1/SNR_t at both ends of the linear schedule.",
    ),
    # network
    "ex-network-embedding": Difficulty(
        2,
        "Needs the frequencies i/(k − 1), an outer product of (B,) steps "
        "with k frequencies and the sine half first, all to a (B, dim) "
        "result.",
    ),
    "ex-network-add-time": Difficulty(
        2,
        "The projection of SiLU(temb) has shape (B, C) and must be "
        "reshaped to (B, C, 1, 1) to broadcast over H and W, on maps "
        "where C = W hides the wrong axis.",
    ),
    "ex-network-shapes": Difficulty(
        2,
        "Following channels and resolutions through the seed UNet needs "
        "care with which module downsamples and which skip is "
        "concatenated where.",
    ),
    # training
    "ex-training-loss": Difficulty(
        2,
        "Combines the random draws, one t per example from 1 to T and ε "
        "of the batch's shape, both from the generator, with the loss.",
    ),
    # sampling
    "ex-sampling-loop": Difficulty(
        2,
        "Algorithm 2 in full needs the loop from T down to 1 inclusive, "
        "noises indexed by t, z = 0 at t = 1 and t passed as a (B,) "
        "tensor.",
    ),
    "ex-sampling-cost": Difficulty(
        1,
        "Scales a measured time in proportion to the number of network calls.",
    ),
    # evaluation
    "ex-evaluation-frechet": Difficulty(
        2,
        "The trace of a matrix square root comes from the eigenvalues of "
        "Σ_1 Σ_2, returned as complex numbers that must be brought back "
        "to real ones.",
    ),
    "ex-evaluation-decoder": Difficulty(
        2,
        "Turns the discretised decoder into Φ of a bin's edges for an "
        "inner and an edge pixel, then reasons about both limits of σ_1.",
    ),
    # guidance
    "ex-guidance-eps": Difficulty(
        1,
        "One line: the chapter's (1 + w) ε_θ(x_t, c) − w ε_θ(x_t).",
    ),
    "ex-guidance-scale": Difficulty(
        1,
        "One line of algebra matches diffusers' form to the chapter's "
        "and gives w = s − 1.",
    ),
}
