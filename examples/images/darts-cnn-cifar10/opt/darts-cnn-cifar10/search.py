"""The DARTS search loop of the darts-cnn-cifar10 stand-in, printing what Katib's image prints."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from network import SearchNetwork
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional

INPUT_CHANNELS, NUM_CLASSES, SIZE = 3, 10, 32  # CIFAR-10's shape


def digits(samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits as CIFAR-10-shaped images: 3 channels of 32x32, normalised."""
    data = load_digits()
    images = torch.tensor(data.images[:samples] / 16.0, dtype=torch.float32).unsqueeze(1)
    images = functional.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = (images.repeat(1, INPUT_CHANNELS, 1, 1) - 0.5) / 0.5
    return images, torch.tensor(data.target[:samples], dtype=torch.long)


class Average:
    def __init__(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, value: float, n: int) -> None:
        self.sum, self.count = self.sum + value * n, self.count + n

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0


def precision(logits: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Top-1 and top-5 precision of a batch, as fractions."""
    top5 = logits.topk(5, dim=1).indices
    hits = top5.eq(target.view(-1, 1))
    return float(hits[:, :1].any(dim=1).float().mean()), float(hits.any(dim=1).float().mean())


def pick_device() -> torch.device:
    """As Katib's image: the first GPU when one is visible (CUDA_VISIBLE_DEVICES), else the CPU."""
    if torch.cuda.device_count() > 0:
        torch.cuda.set_device(0)
        torch.cuda.manual_seed_all(2)
        torch.backends.cudnn.benchmark = True
        print(">>> Use GPU for Training <<<")
        print(f"Device ID: {torch.cuda.current_device()}")
        print(f"Device name: {torch.cuda.get_device_name(0)}")
        print(f"Device availability: {torch.cuda.is_available()}\n")
        return torch.device("cuda")
    print(">>> Use CPU for Training <<<")
    return torch.device("cpu")


def _batches(x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator) -> list[tuple[Any, Any]]:
    order = torch.randperm(len(x), generator=generator).to(x.device)  # the CPU generator's draws on any device
    return [(x[order[i : i + size]], y[order[i : i + size]]) for i in range(0, len(x), size)]


def _line(kind: str, epoch: int, epochs: int, step: int, last: int, loss: Average, p1: Average, p5: Average) -> str:
    return (
        f"{kind}: [{epoch:2d}/{epochs}] Step {step:03d}/{last:03d} Loss {loss.avg:.3f} "
        f"Prec@(1,5) ({p1.avg:.1%}, {p5.avg:.1%})"
    )


def search(settings: dict[str, Any], space: list[str], num_layers: int, samples: int) -> int:
    """Run the search; 0 when done."""
    num_epochs = int(settings["num_epochs"])
    w_lr, w_lr_min = float(settings["w_lr"]), float(settings["w_lr_min"])
    w_momentum, w_weight_decay = float(settings["w_momentum"]), float(settings["w_weight_decay"])
    w_grad_clip = float(settings["w_grad_clip"])
    alpha_lr, alpha_weight_decay = float(settings["alpha_lr"]), float(settings["alpha_weight_decay"])
    print_step = int(settings["print_step"])
    primitives = [*space, "none"]  # Katib's image appends "none"
    print(">>> All Primitives")
    print(f"{primitives}\n")
    print(f"Number of layers {num_layers}\n")
    device = pick_device()

    torch.set_num_threads(1)  # parallel trials do not compete for cores
    torch.manual_seed(2)
    np.random.seed(2)
    images, labels = digits(samples)
    split = len(images) // 2  # as Katib's image: the first half trains the weights, the second the alphas
    train_x, train_y = images[:split].to(device), labels[:split].to(device)
    valid_x, valid_y = images[split:].to(device), labels[split:].to(device)
    batch_size = split if settings["batch_size"] is None else int(settings["batch_size"])

    model = SearchNetwork(
        primitives, int(settings["init_channels"]), INPUT_CHANNELS, NUM_CLASSES, num_layers,
        int(settings["num_nodes"]), int(settings["stem_multiplier"]),
    ).to(device)  # fmt: skip
    criterion = nn.CrossEntropyLoss()
    w_optim = torch.optim.SGD(model.weights(), w_lr, momentum=w_momentum, weight_decay=w_weight_decay)
    alpha_optim = torch.optim.Adam(model.alphas(), alpha_lr, betas=(0.5, 0.999), weight_decay=alpha_weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_optim, num_epochs, eta_min=w_lr_min)
    generator = torch.Generator().manual_seed(2)

    best_top1, best_genotype = -1.0, model.genotype()
    for epoch in range(1, num_epochs + 1):
        model.print_alphas()
        print(">>> Training")
        model.train()
        loss_avg, p1_avg, p5_avg = Average(), Average(), Average()
        train = _batches(train_x, train_y, batch_size, generator)
        valid = _batches(valid_x, valid_y, batch_size, generator)
        for step, ((tx, ty), (vx, vy)) in enumerate(zip(train, valid, strict=False)):
            # Architecture step (first order: the validation loss's gradient at the current weights).
            alpha_optim.zero_grad()
            criterion(model(vx), vy).backward()
            alpha_optim.step()
            # Weight step on the training batch.
            w_optim.zero_grad()
            logits = model(tx)
            loss = criterion(logits, ty)
            loss.backward()
            nn.utils.clip_grad_norm_(model.weights(), w_grad_clip)
            w_optim.step()
            p1, p5 = precision(logits, ty)
            loss_avg.update(loss.item(), len(ty))
            p1_avg.update(p1, len(ty))
            p5_avg.update(p5, len(ty))
            last = min(len(train), len(valid)) - 1
            if step % print_step == 0 or step == last:
                print(_line("Train", epoch, num_epochs, step, last, loss_avg, p1_avg, p5_avg))
        print(f"Train: [{epoch:2d}/{num_epochs}] Final Prec@1 {p1_avg.avg:.4%}")
        scheduler.step()

        print("\n>>> Validation")
        top1 = validate(model, criterion, valid, epoch, num_epochs, print_step)
        genotype = model.genotype()
        print(f"\nModel genotype = {genotype}")
        if top1 > best_top1:
            best_top1, best_genotype = top1, genotype
    print(f"Final best Prec@1 = {best_top1:.4%}")
    print("\nBest-Genotype={}".format(str(best_genotype).replace(" ", "")))
    return 0


def validate(
    model: SearchNetwork, criterion: nn.Module, batches: list[Any], epoch: int, epochs: int, print_step: int
) -> float:
    model.eval()
    loss_avg, p1_avg, p5_avg = Average(), Average(), Average()
    with torch.no_grad():
        for step, (x, y) in enumerate(batches):
            logits = model(x)
            p1, p5 = precision(logits, y)
            loss_avg.update(float(criterion(logits, y)), len(y))
            p1_avg.update(p1, len(y))
            p5_avg.update(p5, len(y))
            if step % print_step == 0 or step == len(batches) - 1:
                print(_line("Validation", epoch, epochs, step, len(batches) - 1, loss_avg, p1_avg, p5_avg))
    print(f"Valid: [{epoch:2d}/{epochs}] Final Prec@1 {p1_avg.avg:.4%}")
    return p1_avg.avg
