"""Trains a small CNN on Fashion-MNIST (Debian package dataset-fashion-mnist,
read from /usr/share/datasets/fashion-mnist; never downloaded) and exports it
to ONNX, for the engine's precision tests (FP32 vs BF16 vs INT8 accuracy on
the 10,000 test images).

Run: /usr/bin/python3 tests/models/fashion_mnist/train_fashion_mnist.py [--out DIR]
Writes DIR/fashion_cnn.onnx (default: this script's directory) and prints
the FP32 test accuracy PyTorch measures. Fixed seeds; 2 epochs take about a
minute on 2 cores.

Input "image": FP32 [N, 1, 28, 28], pixel / 255; output "logits": [N, 10].
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind):
    with gzip.open(os.path.join(DATA, f"{kind}-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DATA, f"{kind}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    model = FashionCnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = np.random.permutation(len(x_train))
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(x_train[idx])), torch.from_numpy(y_train[idx]))
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.time() - start:.0f} s)")
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(x_test[i:i + 1000]))
                            for i in range(0, len(x_test), 1000)])
    acc = (logits.argmax(1).numpy() == y_test).mean()
    print(f"PyTorch FP32 test accuracy: {acc * 100:.2f} %")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fashion_cnn.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, input_names=["image"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
