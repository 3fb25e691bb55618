#!/usr/bin/python3
"""The pooled reference of `sund fl simulate`: scikit-learn's LogisticRegression (Debian's
python3-sklearn) fitted on the same encoded training rows and scored on the same test rows.

Usage: fl_sklearn.py DIR, where DIR is `sund fl simulate --out DIR` (train.csv, test.csv: the
design columns, then y). Prints one JSON object: {"sklearn_auc": ..., "sklearn_coef": [...],
"sklearn_unpenalized_auc": ...}.

sklearn_auc is LogisticRegression() as a researcher would first call it (L2, C = 1, on sund's
standardised columns). The unpenalised maximum-likelihood fit is printed too: on pima it
overfits (a missing-value indicator that nearly separates the classes gets a coefficient of
about -13) and scores lower on the test rows than either.
"""
import csv
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], np.array(rows[1:], dtype=float)
    if header[-1] != "y":
        sys.exit(f"{path}: the last column is not y (a binary task's export)")
    return body[:, :-1], body[:, -1]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    x_train, y_train = load(f"{sys.argv[1]}/train.csv")
    x_test, y_test = load(f"{sys.argv[1]}/test.csv")
    model = LogisticRegression(max_iter=10000).fit(x_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    coef = [float(model.intercept_[0])] + [float(c) for c in model.coef_[0]]
    mle = LogisticRegression(penalty=None, max_iter=10000, tol=1e-10).fit(x_train, y_train)
    mle_auc = roc_auc_score(y_test, mle.predict_proba(x_test)[:, 1])
    print(json.dumps({"sklearn_auc": round(float(auc), 6), "sklearn_coef": coef,
                      "sklearn_unpenalized_auc": round(float(mle_auc), 6)}))


if __name__ == "__main__":
    main()
