"""Stand-in for ``/app/main.py`` of ``ghcr.io/kubeflow/katib/xgboost-lightgbm`` (the training operator's
``examples/xgboost/lightgbm-dist``, the image of Katib's ``xgboostjob-lightgbm`` example; its Dockerfile's
ENTRYPOINT is ``python /app/main.py``).

The original reads the XGBoost operator's MASTER_ADDR/MASTER_PORT/WORKER_ADDRS/WORKER_PORT/WORLD_SIZE/RANK,
writes LightGBM's machine list and a config of its ``--key=value`` arguments, and runs the ``lightgbm`` CLI,
logging its output, e.g. ``[LightGBM] [Info] Iteration:1, valid_1 auc : 0.97`` for each ``--metric`` on the
training data (``--is_training_metric=true``) and the validation data every ``--metric_freq`` iterations.

This stand-in takes the same arguments and prints the same lines, but trains scikit-learn's
HistGradientBoostingClassifier on the bundled breast-cancer data (a fixed 75/25 training/validation split;
``--data`` and ``--valid_data`` are not read). ``--learning_rate``, ``--num_leaves`` (max_leaf_nodes),
``--num_trees`` (max_iter), ``--min_data_in_leaf`` (min_samples_leaf), ``--max_bin`` (at most 255) and
``--feature_fraction`` (max_features) are honoured; bagging has no counterpart and is ignored. The replicas
do not talk: with ``--tree_learner=feature`` (the example's) every LightGBM machine holds all the data and
the model is the single-machine one, so each replica trains it whole; with ``data`` or ``voting`` each rank
trains on its shard of the training data (rank, rank + WORLD_SIZE, ...).
"""

from __future__ import annotations

import argparse
import logging
import os
import re

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per replica: trials and replicas run side by side

logger = logging.getLogger(__name__)
# LightGBM's aliases for the settings this stand-in reads.
ALIASES = {
    "num_trees": ("num_trees", "num_iterations", "num_iteration", "n_iter", "num_tree", "num_round", "num_rounds"),
    "learning_rate": ("learning_rate", "shrinkage_rate", "eta"),
    "num_leaves": ("num_leaves", "num_leaf", "max_leaves", "max_leaf"),
    "min_data_in_leaf": ("min_data_in_leaf", "min_data_per_leaf", "min_data", "min_child_samples"),
    "metric": ("metric", "metrics", "metric_types"),
    "metric_freq": ("metric_freq", "output_freq"),
    "is_training_metric": ("is_training_metric", "training_metric", "is_provide_training_metric"),
    "feature_fraction": ("feature_fraction", "sub_feature", "colsample_bytree"),
    "tree_learner": ("tree_learner", "tree", "tree_type", "tree_learner_type"),
}
DEFAULTS = {
    "num_trees": "100", "learning_rate": "0.1", "num_leaves": "31", "min_data_in_leaf": "20", "max_bin": "255",
    "metric": "binary_logloss", "metric_freq": "1", "is_training_metric": "false", "feature_fraction": "1.0",
    "tree_learner": "serial", "objective": "binary",
}  # fmt: skip
METRICS = ("binary_logloss", "auc")


def read_config(extra_args: list[str]) -> dict[str, str]:
    """The ``--key=value`` arguments, as the original writes them into LightGBM's config, aliases resolved."""
    given: dict[str, str] = {}
    for arg in extra_args:
        match = re.match(r"--(.+)=([^\s]+)", arg)
        if match is not None:
            given[match.group(1)] = match.group(2)
    config = dict(DEFAULTS)
    config.update(given)
    for name, aliases in ALIASES.items():
        for alias in aliases:
            if alias in given:
                config[name] = given[alias]
    return config


def train(config: dict[str, str], rank: int, world_size: int) -> None:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    if config["objective"] not in ("binary", "binary_logloss"):
        raise SystemExit(f"[LightGBM] [Fatal] this stand-in trains objective=binary only, not {config['objective']}")
    metrics = [m for m in config["metric"].split(",") if m]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise SystemExit(f"[LightGBM] [Fatal] unknown metric for this stand-in: {','.join(unknown)}")
    data = load_breast_cancer()
    x_train, x_valid, y_train, y_valid = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    if config["tree_learner"] in ("data", "voting") and world_size > 1:
        x_train, y_train = x_train[rank::world_size], y_train[rank::world_size]
    model = HistGradientBoostingClassifier(
        learning_rate=float(config["learning_rate"]),
        max_iter=int(config["num_trees"]),
        max_leaf_nodes=int(config["num_leaves"]),
        min_samples_leaf=int(config["min_data_in_leaf"]),
        max_bins=min(int(config["max_bin"]), 255),
        max_features=float(config["feature_fraction"]),
        early_stopping=False,
        random_state=0,
    )
    model.fit(x_train, y_train)
    every = max(1, int(config["metric_freq"]))
    sets = [("valid_1", x_valid, y_valid)]
    if config["is_training_metric"].lower() in ("true", "1", "+"):
        sets.insert(0, ("training", x_train, y_train))
    staged = {name: model.staged_predict_proba(x) for name, x, _ in sets}
    for iteration in range(1, model.n_iter_ + 1):
        probabilities = {name: next(stages)[:, 1] for name, stages in staged.items()}
        if iteration % every:
            continue
        for name, _, y in sets:
            p = np.clip(probabilities[name], 1e-15, 1 - 1e-15)
            for metric in metrics:
                value = log_loss(y, p, labels=[0, 1]) if metric == "binary_logloss" else roc_auc_score(y, p)
                logger.info(f"[LightGBM] [Info] Iteration:{iteration}, {name} {metric} : {value:.6f}")
    logger.info(f"[LightGBM] [Info] Finished training: {model.n_iter_} trees")


def main(args: argparse.Namespace, extra_args: list[str]) -> None:
    master_addr = os.environ["MASTER_ADDR"]
    master_port = os.environ["MASTER_PORT"]
    worker_addrs = os.environ.get("WORKER_ADDRS", "")
    worker_port = os.environ.get("WORKER_PORT", "")
    world_size = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    logger.info(
        "extract cluster info from env variables \n"
        f"master_addr: {master_addr} \nmaster_port: {master_port} \nworker_addrs: {worker_addrs} \n"
        f"worker_port: {worker_port} \nworld_size: {world_size} \nrank: {rank} \n"
    )
    if args.job_type == "Predict":
        logger.info("starting the predict job")
    elif args.job_type == "Train":
        logger.info("starting the train job")
        logger.info(f"extra args:\n {extra_args}")
        train(read_config(extra_args), rank, world_size)
    logger.info("Finish distributed job")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", help="Job type to execute", choices=["Train", "Predict"], required=True)
    logging.basicConfig(format="%(message)s")
    logging.getLogger().setLevel(logging.INFO)
    main(*parser.parse_known_args())
