"""Writes the PyTorch-exported ONNX fixtures of tests/fixtures/ (run by scripts/make-fixtures).

Every random choice is seeded, so a rerun with the same pinned versions writes the same
arrays; the ONNX bytes may differ between exporter versions. See tests/fixtures/README.md for
what each file is.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

CLASSES = 10
# Every model takes images in [0, 1]; the auditor maps its [-0.5, 0.5] values there.
INPUT_RANGE = "0,1"


# ---------------------------------------------------------------------------------------------
# Networks


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2Tiny(nn.Module):
    """A MobileNetV2-style network for 3x224x224 images at a tiny width."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU6(),
            nn.MaxPool2d(2),
            InvertedResidual(8, 8, 1, 2),
            InvertedResidual(8, 12, 2, 3),
            InvertedResidual(12, 12, 1, 3),
            InvertedResidual(12, 16, 2, 3),
            nn.Conv2d(16, 32, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU6(),
        )
        self.classifier = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetTiny(nn.Module):
    """A CIFAR-style ResNet for 3x32x32 images: three stages of basic blocks."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.stages = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 24, 2))
        self.fc = nn.Linear(24, CLASSES)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        split = lambda t: t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        att = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        y = att.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.att = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.att(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTTiny(nn.Module):
    """A ViT for 3x32x32 images: 8x8 patches, class token, two pre-norm encoder blocks."""

    def __init__(self, dim=32, heads=2, depth=2, patch=8):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pos = nn.Parameter(torch.randn(1, (32 // patch) ** 2 + 1, dim) * 0.1)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CLASSES)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        cls = self.cls.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class ChannelsLast(nn.Module):
    """Takes NHWC images and hands them to an NCHW network."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


def randomise_norms(model, gen):
    """Gives every norm layer non-trivial affine parameters and running statistics, so that
    folding or not folding BatchNorm changes the exported graph's numbers."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            n = m.weight.shape[0]
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
        if isinstance(m, nn.BatchNorm2d):
            n = m.running_mean.shape[0]
            m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(n, generator=gen))


# ---------------------------------------------------------------------------------------------
# Export


def set_input_range(path):
    model = onnx.load(path)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = "input_range", INPUT_RANGE
    onnx.save(model, path)


def export_classic(model, x, path, opset, fold_bn=True, batch_fixed=False):
    training = torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE
    dynamic = None if batch_fixed else {"input": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(
        model,
        (x,),
        path,
        dynamo=False,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes=dynamic,
        training=training,
    )
    set_input_range(path)


def export_dynamo(model, x, path, opset):
    # torchlib already emits opset 18; its version-conversion pass (always run by the
    # exporter) rejects the exported functions, so it is skipped at the native opset.
    from onnxscript._framework_apis import torch_2_6

    convert = torch_2_6.convert_version
    torch_2_6.convert_version = lambda m, v: m if v == 18 else convert(m, v)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model,
        (x,),
        dynamo=True,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
    )
    program.save(path, external_data=False)
    set_input_range(path)


def ort_logits(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


class Images(CalibrationDataReader):
    def __init__(self, name, batches):
        self.name, self.batches = name, iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.name: batch}


def quantize(src, dst, calibration, fmt, ops=None):
    name = onnx.load(src).graph.input[0].name
    quantize_static(
        src,
        dst,
        Images(name, calibration),
        quant_format=fmt,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=ops,
    )
    set_input_range(dst)


# ---------------------------------------------------------------------------------------------
# Reference data


def save_reference(folder, model, images_u8, gen, layout="nchw"):
    """Images, labels, logits and torch's input gradients of the two documented losses."""
    x = torch.from_numpy(images_u8).float() / 255.0
    with torch.no_grad():
        logits = model(x)
    labels = torch.randint(0, CLASSES, (x.shape[0],), generator=gen)
    seed = torch.randn(x.shape[0], CLASSES, generator=gen)
    grads = {}
    for loss_name in ("ce", "seed"):
        xg = x.clone().requires_grad_(True)
        z = model(xg)
        if loss_name == "ce":
            loss = F.cross_entropy(z, labels, reduction="sum")
        else:
            loss = (seed * z).sum()
        (g,) = torch.autograd.grad(loss, xg)
        grads[loss_name] = g.numpy().astype(np.float32)
    np.save(os.path.join(folder, "images.npy"), images_u8)
    np.save(os.path.join(folder, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(folder, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(folder, "seed.npy"), seed.numpy().astype(np.float32))
    np.save(os.path.join(folder, "grad_ce.npy"), grads["ce"])
    np.save(os.path.join(folder, "grad_seed.npy"), grads["seed"])
    return x, labels, seed


def smooth_images(gen, n, c, h, w):
    """Seeded images with structure at several scales (noise blurred by upsampling), u8."""
    out = torch.zeros(n, c, h, w)
    for cells in (4, 16):
        coarse = torch.rand(n, c, cells, cells, generator=gen)
        out += F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    out = out / 2 + 0.1 * (torch.rand(n, c, h, w, generator=gen) - 0.5)
    return (out.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


# ---------------------------------------------------------------------------------------------


def main(out):
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    versions = {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }
    import onnxscript
    import torchvision

    versions["onnxscript"] = onnxscript.__version__
    versions["torchvision"] = torchvision.__version__
    manifest = {"versions": versions, "fixtures": {}}

    nets = [
        ("mobilenetv2", MobileNetV2Tiny, 224, 1, 1),
        ("resnet", ResNetTiny, 32, 4, 2),
        ("vit", ViTTiny, 32, 4, 3),
    ]
    trained = {}
    for name, cls, size, count, seed in nets:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = cls()
        randomise_norms(model, gen)
        model.eval()
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        images = smooth_images(gen, count, 3, size, size)
        x, _, _ = save_reference(folder, model, images, gen)
        # torch.export specialises a batch of 1 into the graph: export with at least 2.
        xe = torch.cat([x, x]) if x.shape[0] == 1 else x
        exports = {
            "classic-opset13.onnx": lambda p: export_classic(model, x, p, 13),
            "classic-opset17.onnx": lambda p: export_classic(model, x, p, 17),
            "dynamo-opset18.onnx": lambda p: export_dynamo(model, xe, p, 18),
        }
        if name == "resnet":
            exports["classic-opset17-unfolded.onnx"] = lambda p: export_classic(
                model, x, p, 17, fold_bn=False
            )
        for file, export in exports.items():
            path = os.path.join(folder, file)
            export(path)
            diff = np.abs(ort_logits(path, x.numpy()) - model(x).detach().numpy()).max()
            assert diff < 1e-4, f"{path}: onnxruntime logits differ from torch's by {diff}"
            manifest["fixtures"][f"{name}/{file}"] = {"input": [size, size, 3], "ort_vs_torch": float(diff)}
        trained[name] = (model, gen, size)

    # int8 QDQ: MobileNetV2 with a fixed batch of 1, ResNet with NHWC input.
    model, gen, size = trained["mobilenetv2"]
    folder = os.path.join(out, "mobilenetv2-qdq-b1")
    os.makedirs(folder, exist_ok=True)
    calib = smooth_images(gen, 8, 3, size, size)
    x1 = torch.from_numpy(calib[:1]).float() / 255
    export_classic(model, x1, os.path.join(folder, "float.onnx"), 17, batch_fixed=True)
    quantize(
        os.path.join(folder, "float.onnx"),
        os.path.join(folder, "model.onnx"),
        [(c[None].astype(np.float32) / 255) for c in calib],
        QuantFormat.QDQ,
    )
    os.remove(os.path.join(folder, "float.onnx"))
    save_quantized_reference(folder, smooth_images(gen, 1, 3, size, size), gen)

    model, gen, size = trained["resnet"]
    nhwc = ChannelsLast(model).eval()
    folder = os.path.join(out, "resnet-qdq-nhwc")
    os.makedirs(folder, exist_ok=True)
    calib = smooth_images(gen, 8, 3, size, size).transpose(0, 2, 3, 1).copy()
    xc = torch.from_numpy(calib[:2]).float() / 255
    export_classic(nhwc, xc, os.path.join(folder, "float.onnx"), 17)
    quantize(
        os.path.join(folder, "float.onnx"),
        os.path.join(folder, "model.onnx"),
        [calib[i : i + 2].astype(np.float32) / 255 for i in range(0, 8, 2)],
        QuantFormat.QDQ,
    )
    os.remove(os.path.join(folder, "float.onnx"))
    save_quantized_reference(
        folder, smooth_images(gen, 4, 3, size, size).transpose(0, 2, 3, 1).copy(), gen
    )

    # QOperator: the ResNet's convolutions as QLinearConv (the rest stays float).
    folder = os.path.join(out, "resnet-qoperator")
    os.makedirs(folder, exist_ok=True)
    calib = smooth_images(gen, 8, 3, size, size)
    xc = torch.from_numpy(calib[:2]).float() / 255
    export_classic(model, xc, os.path.join(folder, "float.onnx"), 13)
    quantize(
        os.path.join(folder, "float.onnx"),
        os.path.join(folder, "model.onnx"),
        [calib[i : i + 2].astype(np.float32) / 255 for i in range(0, 8, 2)],
        QuantFormat.QOperator,
        ops=["Conv", "MatMul"],
    )
    os.remove(os.path.join(folder, "float.onnx"))
    save_quantized_reference(folder, smooth_images(gen, 4, 3, size, size), gen)

    for sub in sorted(os.listdir(out)):
        folder = os.path.join(out, sub)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.endswith(".onnx"):
                m = onnx.load(os.path.join(folder, file))
                opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
                ops = sorted({n.op_type for n in m.graph.node})
                entry = manifest["fixtures"].setdefault(f"{sub}/{file}", {})
                entry["opset"] = opset
                entry["ops"] = ops
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def save_quantized_reference(folder, images_u8, gen):
    """Images, labels, onnxruntime's logits of the quantized model, and the seed matrix."""
    path = os.path.join(folder, "model.onnx")
    x = images_u8.astype(np.float32) / 255
    np.save(os.path.join(folder, "images.npy"), images_u8)
    labels = torch.randint(0, CLASSES, (x.shape[0],), generator=gen)
    np.save(os.path.join(folder, "labels.npy"), labels.numpy().astype(np.int64))
    np.save(os.path.join(folder, "logits.npy"), ort_logits(path, x).astype(np.float32))
    seed = torch.randn(x.shape[0], CLASSES, generator=gen)
    np.save(os.path.join(folder, "seed.npy"), seed.numpy().astype(np.float32))
    # QOperator models get no reference gradient (torch cannot run QLinearConv graphs).
    if all(n.op_type != "QLinearConv" for n in onnx.load(path).graph.node):
        graph = QdqGraph(onnx.load(path))
        xt = torch.from_numpy(x)
        with torch.no_grad():
            diff = np.abs(graph(xt).numpy() - ort_logits(path, x)).max()
        print(f"{path}: torch's QDQ evaluation differs from onnxruntime by {diff:.3g}")
        # A second 224x224 gradient would push the fixtures past their 4 MB budget.
        losses = ("ce", "seed") if x[0].size < 100_000 else ("seed",)
        for loss_name in losses:
            xg = xt.clone().requires_grad_(True)
            z = graph(xg)
            if loss_name == "ce":
                loss = F.cross_entropy(z, labels, reduction="sum")
            else:
                loss = (seed * z).sum()
            (g,) = torch.autograd.grad(loss, xg)
            np.save(os.path.join(folder, f"grad_{loss_name}.npy"), g.numpy().astype(np.float32))


class StraightThroughQuantize(torch.autograd.Function):
    """QuantizeLinear whose backward is the straight-through estimator: `g / scale` inside
    the clipping range, 0 outside, so that with DequantizeLinear's `* scale` the pair passes
    the gradient unchanged where `(qmin - zp) * scale <= x <= (qmax - zp) * scale`."""

    @staticmethod
    def forward(ctx, x, scale, zero, qmin, qmax):
        lo, hi = (qmin - zero) * scale, (qmax - zero) * scale
        ctx.save_for_backward((x >= lo) & (x <= hi), scale)
        return torch.clamp(torch.round(x / scale) + zero, qmin, qmax)

    @staticmethod
    def backward(ctx, g):
        mask, scale = ctx.saved_tensors
        return g * mask / scale, None, None, None, None


class QdqGraph:
    """A torch evaluation of the ops in the QDQ fixtures, with straight-through quantizers:
    the reference for the auditor's straight-through gradients."""

    RANGES = {onnx.TensorProto.UINT8: (0, 255), onnx.TensorProto.INT8: (-128, 127)}

    def __init__(self, model):
        self.graph = model.graph
        self.consts = {}
        self.dtypes = {}
        for t in model.graph.initializer:
            self.consts[t.name] = torch.from_numpy(onnx.numpy_helper.to_array(t).astype(np.float32))
            self.dtypes[t.name] = t.data_type

    def __call__(self, x):
        env = dict(self.consts)
        env[self.graph.input[0].name] = x
        for n in self.graph.node:
            a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
            ins = [env[i] if i else None for i in n.input]
            env[n.output[0]] = self.op(n, a, ins)
        return env[self.graph.output[0].name]

    def per_axis(self, t, rank, axis):
        if t.dim() == 0 or t.numel() == 1:
            return t.reshape(())
        shape = [1] * rank
        shape[axis % rank] = -1
        return t.reshape(shape)

    def op(self, n, a, ins):
        t = n.op_type
        if t == "QuantizeLinear":
            x, s, z = ins
            axis = a.get("axis", 1)
            s, z = self.per_axis(s, x.dim(), axis), self.per_axis(z, x.dim(), axis)
            qmin, qmax = self.RANGES[self.dtypes[n.input[2]]]
            return StraightThroughQuantize.apply(x, s, z, float(qmin), float(qmax))
        if t == "DequantizeLinear":
            q, s, z = ins
            axis = a.get("axis", 1)
            s, z = self.per_axis(s, q.dim(), axis), self.per_axis(z, q.dim(), axis)
            return (q - z) * s
        if t == "Conv":
            x, w, b = (ins + [None])[:3]
            p = a.get("pads", [0, 0, 0, 0])
            assert p[:2] == p[2:], "symmetric pads only"
            return F.conv2d(x, w, b, a.get("strides", [1, 1]), p[:2], a.get("dilations", [1, 1]), a.get("group", 1))
        if t == "Add":
            return ins[0] + ins[1]
        if t == "Relu":
            return F.relu(ins[0])
        if t == "Transpose":
            return ins[0].permute(*a["perm"])
        if t == "MaxPool":
            p = a.get("pads", [0, 0, 0, 0])
            return F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides"), p[:2])
        if t == "GlobalAveragePool":
            return ins[0].mean(dim=(2, 3), keepdim=True)
        if t == "ReduceMean":
            return ins[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        if t == "Flatten":
            return ins[0].flatten(a.get("axis", 1))
        if t == "Gemm":
            x, w, b = ins
            w = w.t() if a.get("transB", 0) else w
            return x @ w + b
        if t == "Constant":
            return torch.from_numpy(onnx.numpy_helper.to_array(a["value"]).astype(np.float32))
        raise ValueError(f"QdqGraph: op {t} is not evaluated")


if __name__ == "__main__":
    main(sys.argv[1])
