"""Intent classification: which intent an utterance means, and how sure we are.

TF-IDF of word 1-2-grams and character 2-5-grams (inside words) feeds a multinomial logistic
regression. An extra `out_of_scope` class, trained on unrelated sentences, soaks up text that
matches no intent; it is reported as `intent=None`. Training is scikit-learn's; classifying is
done here with the fitted vocabularies and weights, because scikit-learn's per-call checks
cost far more than the arithmetic for one short utterance.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from ivr.nlu.builtin import OUT_OF_SCOPE, OUT_OF_SCOPE_INTENT

RANKING_SIZE = 3
REGULARISATION_C = 30.0
"""Inverse regularisation strength. Few examples per intent need a large C, else every
probability stays near 1/number-of-intents and nothing clears the confidence threshold."""

RANDOM_STATE = 0

UNKNOWN_WORDS_FACTOR = 0.3
"""How much of each intent's probability survives when not one content word of the utterance
was ever seen in an intent's examples; the rest goes to out-of-scope."""

# fmt: off
FUNCTION_WORDS = frozenset({
    "a", "about", "after", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "get", "go",
    "had", "has", "have", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "im",
    "in", "into", "is", "it", "its", "ive", "just", "like", "me", "might", "more", "my", "no",
    "not", "now", "of", "off", "oh", "ok", "okay", "on", "or", "our", "out", "please",
    "really", "she", "so", "some", "such", "than", "thank", "thanks", "that", "thats", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "uh",
    "um", "er", "erm", "hmm", "ah", "hey", "hi", "hello", "up", "us", "very", "was", "we",
    "well", "were", "what", "whats", "when", "where", "which", "who", "why", "will", "with",
    "would", "yeah", "yes", "you", "your", "youre", "0", "want", "wanna", "wanted", "need",
    "needed", "know", "wondering", "calling", "call", "trying", "try", "tell", "let", "lets",
    "got", "gotten", "give", "make", "take", "see", "think", "help",
})
# fmt: on
"""Words that say nothing about what a caller wants: fillers, pronouns, auxiliaries and the
verbs every request is wrapped in."""

STEM_LENGTH = 5

CARRIERS = (
    "um {}",
    "hi {} please",
    "yeah hi i was wondering {}",
    "im calling because {}",
    "hello {} thanks",
    "so {}",
    "uh hi im calling about {}",
    "can you help me {}",
)
"""Filler that callers wrap requests in. Every class, out-of-scope included, gets its examples
wrapped in these, so that filler counts for no class and a long, chatty request is not taken
for an unrelated sentence merely for being long and chatty."""


@dataclass(frozen=True)
class IntentGuess:
    """The classifier's answer: the best intent (None for out of scope) and the runners-up.

    `confidence` is the probability of the best class, out-of-scope included. `ranking` lists
    up to three real intents, best first, with their probabilities.
    """

    intent: str | None
    confidence: float
    ranking: tuple[tuple[str, float], ...]


def normalise(text: str) -> str:
    """Lower-case words with plain apostrophes removed and numbers folded into one token."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"['’`]", "", text)
    text = re.sub(r"\d+", " 0 ", text)
    text = re.sub(r"[^\w]+", " ", text)
    return text.strip()


@dataclass(frozen=True)
class _Block:
    """One fitted TF-IDF vectorizer, unpacked for fast single-utterance transforms."""

    analyse: Callable[[str], list[str]]
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    offset: int

    def features(self, text: str) -> tuple[list[int], list[float]]:
        counts = Counter(term for term in self.analyse(text) if term in self.vocabulary)
        if not counts:
            return [], []
        indices = [self.vocabulary[term] for term in counts]
        # sublinear_tf=True, then the vectorizer's l2 normalisation per block.
        values = [
            (1.0 + math.log(count)) * self.idf[index]
            for index, count in zip(indices, counts.values(), strict=True)
        ]
        norm = math.sqrt(sum(value * value for value in values))
        return [self.offset + index for index in indices], [value / norm for value in values]


def _vectorizers() -> FeatureUnion:
    common = {"lowercase": False, "sublinear_tf": True, "dtype": np.float64}
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common
                ),
            ),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)),
        ]
    )


class IntentClassifier:
    """A trained intent model. Build it with `IntentClassifier.train`."""

    def __init__(self, union: FeatureUnion, model: LogisticRegression, known_words: Iterable[str]):
        """Wrap a fitted union and model; `known_words` are the words of real intents' examples."""
        self.union = union
        self.model = model
        self.labels: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        self._blocks: list[_Block] = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            self._blocks.append(
                _Block(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset)
            )
            offset += len(vectorizer.vocabulary_)
        coef, intercept = model.coef_, model.intercept_
        if len(self.labels) == 2:
            # Two classes get one logistic row; softmax over (-z/2, z/2) is that sigmoid.
            coef, intercept = (
                np.vstack([-coef / 2, coef / 2]),
                np.hstack([-intercept / 2, intercept / 2]),
            )
        # One row per feature, so that an utterance's few features are a cheap row gather.
        self._weights = np.ascontiguousarray(coef.T)
        self._bias = intercept.copy()
        self._out_of_scope = self.labels.index(OUT_OF_SCOPE_INTENT)
        self._known_stems = frozenset(_stem(word) for word in known_words)

    @classmethod
    def train(
        cls,
        examples: Mapping[str, Sequence[str]],
        out_of_scope: Sequence[str] = OUT_OF_SCOPE,
    ) -> IntentClassifier:
        """Fit on example phrases per intent, plus unrelated phrases as the out-of-scope class.

        Deterministic: the same examples give the same model. A phrase given for two intents
        is kept for the first in alphabetical order.
        """
        if OUT_OF_SCOPE_INTENT in examples:
            raise ValueError(f"{OUT_OF_SCOPE_INTENT!r} is reserved for unrelated text")
        taught: dict[str, str] = {}
        for intent, phrases in sorted(examples.items()):
            for phrase in phrases:
                taught.setdefault(normalise(phrase), intent)
        taught.pop("", None)
        if not taught:
            raise ValueError("no intent has an example phrase")
        known_words = {word for text in taught for word in text.split()}
        for phrase in out_of_scope:
            # A flow that teaches one of these phrases means it: the flow wins.
            taught.setdefault(normalise(phrase), OUT_OF_SCOPE_INTENT)
        if OUT_OF_SCOPE_INTENT not in taught.values():
            raise ValueError("the classifier needs out-of-scope phrases to learn what fits nothing")
        texts: list[str] = []
        labels: list[str] = []
        for number, (text, intent) in enumerate(taught.items()):
            texts += [text, CARRIERS[number % len(CARRIERS)].format(text)]
            labels += [intent, intent]
        union = _vectorizers()
        features = union.fit_transform(texts)
        model = LogisticRegression(
            C=REGULARISATION_C, class_weight="balanced", max_iter=2000, random_state=RANDOM_STATE
        )
        model.fit(features, labels)
        return cls(union, model, known_words)

    def probabilities(self, text: str) -> np.ndarray:
        """Probability per label (see `labels`), for already normalised text."""
        indices: list[int] = []
        values: list[float] = []
        for block in self._blocks:
            block_indices, block_values = block.features(text)
            indices += block_indices
            values += block_values
        scores = self._bias.copy()
        if indices:
            scores += np.asarray(values) @ self._weights[indices]
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()

    def classify(self, text: str) -> IntentGuess:
        """The most likely intent for one utterance; `intent=None` when it fits none."""
        normalised = normalise(text)
        if not normalised:
            return IntentGuess(None, 0.0, ())
        probabilities = self.probabilities(normalised)
        if self._all_words_unknown(normalised):
            probabilities = probabilities * UNKNOWN_WORDS_FACTOR
            probabilities[self._out_of_scope] += 1.0 - probabilities.sum()
        order = np.argsort(-probabilities, kind="stable")
        best = int(order[0])
        ranking = tuple(
            (self.labels[index], round(float(probabilities[index]), 4))
            for index in order
            if index != self._out_of_scope
        )[:RANKING_SIZE]
        intent = None if best == self._out_of_scope else self.labels[best]
        return IntentGuess(intent, float(probabilities[best]), ranking)

    def _all_words_unknown(self, text: str) -> bool:
        """True when the text has content words and no intent's examples share any of them."""
        content = [word for word in text.split() if word not in FUNCTION_WORDS]
        return bool(content) and not any(_stem(word) in self._known_stems for word in content)


def _stem(word: str) -> str:
    # A crude stem is enough: "arrived" and "arrive", "logging" and "login" should meet.
    return word[:STEM_LENGTH]
