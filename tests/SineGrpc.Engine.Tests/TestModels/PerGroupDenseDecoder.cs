using Onnx;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Onnx;

namespace SineGrpc.Engine.Tests.TestModels;

/// <summary>
/// Turns the embedded decoder into a dense decoder of the bundle contract's three inputs
/// (DESIGN.md §3), as another dense bundle would have: its <c>memory_visible</c> becomes an
/// empty [0, M] computed inside (no further group), so the service decodes one group of
/// objects per run.
/// </summary>
internal static class PerGroupDenseDecoder
{
    public static ModelProto WithoutVisibility(ModelProto model)
    {
        var graph = model.Graph;
        graph.Input.Remove(graph.Input.Single(i => i.Name == OptionalInputNames.MemoryVisible));
        graph.Initializer.Add(Int64s("per_group_zero", 0));
        graph.Initializer.Add(Int64s("per_group_none", 0));
        var one = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1 }, FloatData = { 1f } };
        NodeProto[] ones =
        [
            Node("Shape", ["memory_features"], "per_group_shape"),
            Node("Gather", ["per_group_shape", "per_group_zero"], "per_group_m", Attr.Int("axis", 0)),
            Node("Concat", ["per_group_none", "per_group_m"], "per_group_dims", Attr.Int("axis", 0)),
            Node("ConstantOfShape", ["per_group_dims"], OptionalInputNames.MemoryVisible,
                new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = one }),
        ];
        for (var i = ones.Length - 1; i >= 0; i--)
            graph.Node.Insert(0, ones[i]);
        return model;
    }

    private static TensorProto Int64s(string name, params long[] values) =>
        new() { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length }, Int64Data = { values } };

    private static NodeProto Node(string opType, string[] inputs, string output, params AttributeProto[] attributes) =>
        new() { OpType = opType, Name = output + "_node", Input = { inputs }, Output = { output }, Attribute = { attributes } };
}
