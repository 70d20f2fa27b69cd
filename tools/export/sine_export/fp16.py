"""A float16 variant of an exported bundle, for GPUs: weights and compute in float16,
inputs and outputs still float32 (the service feeds and reads float32).

The encoder and the decoder are converted; pool.onnx stays float32, because its sums
run over 4h x 4w mask-feature pixels and can leave float16's range (65504).
The variant is a sibling bundle folder, `<bundle>-fp16`, whose model.json names the
model `<name>-fp16`, so one Engine:ModelsPath can serve both.
"""
import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16

# Inputs that the ONNX spec requires in float32 whatever the data type: (op, input index).
KEEP_FLOAT = {("Resize", 1), ("Resize", 2)}


def _half(tensor):
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)


def convert_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    keep = {node.input[i] for node in graph.node for (op, i) in KEEP_FLOAT
            if node.op_type == op and len(node.input) > i and node.input[i]}

    for i, init in enumerate(graph.initializer):
        if init.data_type == FLOAT and init.name not in keep:
            graph.initializer[i].CopyFrom(_half(init))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(_half(attr.t))
        elif node.op_type == "ConstantOfShape":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(_half(attr.t))
        elif node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == FLOAT and node.output[0] not in keep:
                    attr.i = HALF

    # float32 graph inputs: cast to float16 on entry.
    casts = []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != FLOAT:
            continue
        half_name = inp.name + "_fp16"
        for node in graph.node:
            for k, name in enumerate(node.input):
                if name == inp.name:
                    node.input[k] = half_name
        casts.append(helper.make_node("Cast", [inp.name], [half_name], to=HALF, name=inp.name + "_to_fp16"))
    # float32 graph outputs: computed in float16, cast back on exit.
    for out in graph.output:
        if out.type.tensor_type.elem_type != FLOAT:
            continue
        half_name = out.name + "_fp16"
        for node in graph.node:
            for k, name in enumerate(node.output):
                if name == out.name:
                    node.output[k] = half_name
            for k, name in enumerate(node.input):
                if name == out.name:
                    node.input[k] = half_name
        casts.append(helper.make_node("Cast", [half_name], [out.name], to=FLOAT, name=out.name + "_to_fp32"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([c for c in casts if c.name.endswith("_to_fp16")] + nodes +
                      [c for c in casts if c.name.endswith("_to_fp32")])
    del graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model)


def write_fp16_variant(folder: str, manifest: dict, log=print) -> str:
    target = folder.rstrip("/") + "-fp16"
    os.makedirs(target, exist_ok=True)
    for name in ("encoder.onnx", "decoder.onnx"):
        model = convert_graph(onnx.load(os.path.join(folder, name)))
        path = os.path.join(target, name)
        onnx.save(model, path)
        onnx.checker.check_model(path, full_check=True)
        log(f"{target}/{name}: float16")
    shutil.copyfile(os.path.join(folder, "pool.onnx"), os.path.join(target, "pool.onnx"))
    variant = dict(manifest, name=manifest["name"] + "-fp16",
                   description=manifest["description"] + " Float16 weights and compute (for GPUs); pooling in float32.")
    with open(os.path.join(target, "model.json"), "w") as f:
        json.dump(variant, f, indent=2)
        f.write("\n")
    return target
