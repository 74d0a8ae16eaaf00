#!/usr/bin/python3
"""Generates examples/model_repository/digits_cnn/1/model.pt, the TorchScript
example of the pytorch backend.

  /usr/bin/python3 tools/make_torch_example.py

Debian python3-torch and python3-sklearn. A small convolutional network
(conv 3x3 with 8 channels, ReLU, 2x2 max-pool, linear 128 -> 10, softmax;
1,370 weights) trained for 40 epochs on scikit-learn's bundled 8x8 digits,
with the same split as digits_mlp (tools/make_example_models.py): 75 % to
train, 25 % held out. Seeds are fixed, training uses one thread and the
script runs itself under PYTHONHASHSEED=0 (TorchScript writes a module's
constants in set order), so every run gives the same weights and code with
the same torch version (the archive's debug records also hold this script's
path, so a checkout elsewhere differs there only). Prints the held-out
accuracy; README.md quotes it.

The model takes what digits_mlp takes, "pixels" [batch, 64] with
intensities 0..16 (it scales and reshapes them itself), and returns the ten
class probabilities as OUTPUT__0 [batch, 10]. The input is bound by
forward()'s argument name, the output by position (the backend's rules).
"""
import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "PYTHONHASHSEED": "0"})

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                   "model_repository", "digits_cnn", "1", "model.pt")


class DigitsCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def logits(self, pixels):
        x = (pixels / 16.0).reshape(-1, 1, 8, 8)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))

    def forward(self, pixels):
        return torch.softmax(self.logits(pixels), dim=1)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    x_train = torch.tensor(x_train, dtype=torch.float32)
    y_train = torch.tensor(y_train)
    model = DigitsCnn()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), 64):
            batch = order[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.logits(x_train[batch]), y_train[batch])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.tensor(x_test, dtype=torch.float32)).argmax(1).numpy()
    accuracy = (predicted == y_test).mean()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    torch.jit.script(model).save(OUT)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")
    print(f"digits CNN test accuracy: {accuracy * 100:.2f}% on {len(y_test)} held-out images")


if __name__ == "__main__":
    main()
