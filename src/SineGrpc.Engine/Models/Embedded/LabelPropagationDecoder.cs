using Onnx;
using SineGrpc.Engine.Models.Onnx;

namespace SineGrpc.Engine.Models.Embedded;

/// <summary>Parameters of the training-free label-propagation decoder.</summary>
/// <param name="TopK">Memory cells each target cell takes its label from (fewer when the memory has fewer cells).</param>
/// <param name="Temperature">Softmax temperature over the chosen cells' cosine similarities.</param>
/// <param name="Radius">Only memory cells within this many cells (Euclidean, on the feature grid) of the target cell are candidates.</param>
public sealed record LabelPropagationOptions(int TopK = 10, float Temperature = 0.05f, int Radius = 12)
{
    /// <summary>The calibrated defaults: mean J&amp;F 61.4 on DAVIS 2016 dev with layer3 features at 864x480.</summary>
    public static LabelPropagationOptions Default { get; } = new();

    public override string ToString() =>
        FormattableString.Invariant($"top-{TopK}, temperature {Temperature}, radius {Radius} cells");
}

/// <summary>
/// The embedded model's decoder as an ONNX graph: dense label propagation (space-time
/// correspondence as in CRW and the DINO video evaluation). Each target cell compares
/// its L2-normalised feature with every memory cell near it, keeps the top k, and takes
/// the softmax-weighted mean of their labels.
/// </summary>
/// <remarks>
/// Inputs <c>features</c> [1,C,h,w], <c>memory_features</c> [M,C,h,w],
/// <c>memory_labels</c> [M,L,h,w]; output <c>labels</c> [1,L,h,w]. C, M, L, h and w are
/// all dynamic. Cost is dominated by the [hw, C] x [C, M*hw] affinity.
/// </remarks>
public static class LabelPropagationDecoder
{
    /// <summary>Added to the affinity of cells outside the radius: large enough to lose every softmax, finite so that nothing turns into NaN.</summary>
    private const float OutsidePenalty = -1e4f;

    /// <summary>Keeps all-zero features (for example padding) from dividing by zero in the normalisation.</summary>
    private const float NormEpsilon = 1e-6f;

    public static ModelProto Build(LabelPropagationOptions options)
    {
        if (options.TopK < 1 || options.Temperature <= 0 || options.Radius < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options, "top-k >= 1, temperature > 0 and radius >= 0 are required");

        var g = new OnnxGraphBuilder("label_propagation");
        var features = g.Input("features", 1, "channels", "height", "width");
        var memoryFeatures = g.Input("memory_features", "memory", "channels", "height", "width");
        var memoryLabels = g.Input("memory_labels", "memory", "labels", "height", "width");

        var featureShape = g.Node("Shape", [features]);
        var h = g.Node("Gather", [featureShape, g.Int64s(2)], Attr.Int("axis", 0));   // [1]
        var w = g.Node("Gather", [featureShape, g.Int64s(3)], Attr.Int("axis", 0));   // [1]
        var hw = g.Node("Mul", [h, w]);                                                 // [1]
        var labelCount = g.Node("Gather", [g.Node("Shape", [memoryLabels]), g.Int64s(1)], Attr.Int("axis", 0));

        // Target cells as rows [hw, C], memory cells as columns [C, M*hw] (memory frame major).
        var target = g.Node("Transpose", [g.Node("Flatten", [Normalise(g, features)], Attr.Int("axis", 2))], Attr.Ints("perm", 1, 0));
        var memoryByChannel = g.Node("Transpose", [Normalise(g, memoryFeatures)], Attr.Ints("perm", 1, 0, 2, 3));
        var memory = g.Node("Flatten", [memoryByChannel], Attr.Int("axis", 1));
        var affinity = g.Node("MatMul", [target, memory]);                               // [hw, M*hw]

        // The radius penalty depends only on the two cells' grid positions, so one
        // [hw, 1, hw] table serves every memory frame by broadcasting.
        var perFrame = g.Node("Reshape", [affinity, g.Node("Concat", [hw, g.Int64s(-1), hw], Attr.Int("axis", 0))]);
        var penalised = g.Node("Add", [perFrame, RadiusPenalty(g, w, hw, options.Radius)]);
        var candidates = g.Node("Reshape", [penalised, g.Int64s(0, -1)]);              // [hw, M*hw]

        // k = min(TopK, M*h*w), so that a tiny memory still works.
        var candidateCount = g.Node("Gather", [g.Node("Shape", [candidates]), g.Int64s(1)], Attr.Int("axis", 0));
        var k = g.Node("Min", [candidateCount, g.Int64s(options.TopK)]);
        var top = g.Node("TopK", [candidates, k], 2, Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", 1));
        var weights = g.Node("Softmax", [g.Node("Div", [top[0], g.Float(options.Temperature)])], Attr.Int("axis", -1)); // [hw, k]

        // Labels as rows of memory cells, [M*hw, L], in the same order as the affinity's columns.
        var labelRows = g.Node("Flatten", [g.Node("Transpose", [memoryLabels], Attr.Ints("perm", 0, 2, 3, 1))], Attr.Int("axis", 3));
        var chosen = g.Node("Gather", [labelRows, top[1]], Attr.Int("axis", 0));        // [hw, k, L]
        var weighted = g.Node("Mul", [chosen, g.Node("Unsqueeze", [weights, g.Int64s(2)])]);
        var propagated = g.Node("ReduceSum", [weighted, g.Int64s(1)], Attr.Int("keepdims", 0)); // [hw, L]

        var outputShape = g.Node("Concat", [g.Int64s(1), labelCount, h, w], Attr.Int("axis", 0));
        var labels = g.Node("Reshape", [g.Node("Transpose", [propagated], Attr.Ints("perm", 1, 0)), outputShape]);
        g.Output(labels, "labels", 1, "labels", "height", "width");
        return g.Build($"Dense label propagation: {options}");
    }

    /// <summary>x / max(||x||, eps) over the channel axis of an [N,C,h,w] tensor.</summary>
    private static string Normalise(OnnxGraphBuilder g, string x)
    {
        var norm = g.Node("ReduceL2", [x], Attr.Ints("axes", 1), Attr.Int("keepdims", 1));
        return g.Node("Div", [x, g.Node("Max", [norm, g.Float(NormEpsilon)])]);
    }

    /// <summary>[hw, 1, hw]: 0 where two cells are within <paramref name="radius"/> of each other, <see cref="OutsidePenalty"/> elsewhere.</summary>
    private static string RadiusPenalty(OnnxGraphBuilder g, string w, string hw, int radius)
    {
        var cells = g.Node("Range", [g.Int64(0), g.Node("Squeeze", [hw, g.Int64s(0)]), g.Int64(1)]);
        var y = g.Node("Cast", [g.Node("Div", [cells, w])], Attr.Int("to", (long)TensorProto.Types.DataType.Float));
        var x = g.Node("Cast", [g.Node("Mod", [cells, w])], Attr.Int("to", (long)TensorProto.Types.DataType.Float));

        string SquaredOffset(string coordinate)
        {
            var offset = g.Node("Sub", [
                g.Node("Unsqueeze", [coordinate, g.Int64s(1)]),
                g.Node("Unsqueeze", [coordinate, g.Int64s(0)])]);
            return g.Node("Mul", [offset, offset]);
        }

        var squaredDistance = g.Node("Add", [SquaredOffset(y), SquaredOffset(x)]);       // [hw, hw]
        var outside = g.Node("Greater", [squaredDistance, g.Float((float)radius * radius)]);
        var penalty = g.Node("Where", [outside, g.Float(OutsidePenalty), g.Float(0f)]);
        return g.Node("Unsqueeze", [penalty, g.Int64s(1)]);
    }
}
