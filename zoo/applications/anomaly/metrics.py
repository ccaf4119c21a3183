"""How well a score separates anomalies from normal data: AUROC and AUPRC."""

import math

import numpy as np


def check_labels(name, labels, n):
    """`labels` as a boolean `[n]` array of 0 (normal) / 1 (anomaly) with both present, or a
    `ValueError` naming `name`."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have one entry per example, shape [{n}]. "
                         f"Received: {name}.shape={list(labels.shape)}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"{name} must hold 0 (normal) and 1 (anomaly). Received: values "
                         f"{np.unique(labels[(labels != 0) & (labels != 1)])[:5].tolist()}")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError(f"{name} must contain both normal (0) and anomalous (1) examples. "
                         f"Received: {int(labels.sum())} anomalies of {n}")
    return labels


def auroc(scores, labels):
    """Area under the ROC curve: the probability that a random anomaly scores above a
    random normal example, ties counting one half (the Mann-Whitney U statistic)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = check_labels("labels", labels, len(scores))
    # Average ranks of tied scores, 1-based.
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(scores, labels):
    """Area under the precision-recall curve as average precision: the mean, over the
    anomalies, of the precision among examples scoring at least as high (ties broken
    pessimistically, so a constant score gets the anomaly rate)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = check_labels("labels", labels, len(scores))
    all_sorted, positive_sorted = np.sort(scores), np.sort(scores[labels])
    at_or_above = len(scores) - np.searchsorted(all_sorted, scores[labels], side="left")
    positives_at_or_above = len(positive_sorted) - np.searchsorted(positive_sorted, scores[labels],
                                                                    side="left")
    return float(np.mean(positives_at_or_above / at_or_above))


def fpr_at_tpr(scores, labels, tpr=0.95):
    """False-positive rate at the highest threshold that flags at least `tpr` of the
    anomalies ("FPR at 95 % TPR"): the share of normal examples scoring at least as high
    as the ceil(tpr * anomalies)-th highest anomaly (ties count as flagged)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = check_labels("labels", labels, len(scores))
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must be a number in (0, 1]. Received: tpr={tpr!r}")
    anomalous = np.sort(scores[labels])[::-1]
    threshold = anomalous[math.ceil(tpr * len(anomalous) - 1e-9) - 1]
    return float(np.mean(scores[~labels] >= threshold))
