"""The benchmark U-Net 16-32-64 written with ``nn`` modules, for any framework that spells torch.nn's names.

``torch_unet(torch)`` builds it with PyTorch; ``torch_unet(tinygrad_med)`` builds the same network with
tinygrad_med (tm.nn follows torch.nn, tm.cat torch.cat).  This module imports neither framework, so a
process timing one of them loads only that one.
"""


def torch_unet(torch, widths=(16, 32, 64)):
    nn = torch.nn

    def block(a, b):
        return nn.Sequential(
            nn.Conv2d(a, b, 3, padding=1, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(),
            nn.Conv2d(b, b, 3, padding=1, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(),
        )

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.e0, self.e1, self.mid = block(1, widths[0]), block(widths[0], widths[1]), block(widths[1], widths[2])
            self.u1, self.d1 = nn.ConvTranspose2d(widths[2], widths[1], 2, stride=2), block(2 * widths[1], widths[1])
            self.u0, self.d0 = nn.ConvTranspose2d(widths[1], widths[0], 2, stride=2), block(2 * widths[0], widths[0])
            self.head = nn.Conv2d(widths[0], 2, 1)

        def forward(self, x):
            a = self.e0(x)
            b = self.e1(torch.nn.functional.max_pool2d(a, 2))
            c = self.mid(torch.nn.functional.max_pool2d(b, 2))
            d = self.d1(torch.cat([self.u1(c), b], 1))
            return self.head(self.d0(torch.cat([self.u0(d), a], 1)))

    return Net()
