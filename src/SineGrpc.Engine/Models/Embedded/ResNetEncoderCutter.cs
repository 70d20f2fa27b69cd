using Onnx;
using SineGrpc.Engine.Models.Onnx;

namespace SineGrpc.Engine.Models.Embedded;

/// <summary>
/// Turns the classifier ResNet-18 that NuGet ships (CNTK export, opset 8, fixed
/// 1x3x224x224) into a feature encoder: cut after one layer, the input renamed
/// <c>image</c> with symbolic batch/height/width, the cut renamed <c>features</c>.
/// </summary>
public static class ResNetEncoderCutter
{
    /// <summary>Output of ResNet-18's layer3 in that file: 256 channels, stride 16.</summary>
    public const string Layer3Output = "ReLU347_Output_0";

    /// <summary>Output of ResNet-18's layer2 in that file: 128 channels, stride 8.</summary>
    public const string Layer2Output = "ReLU315_Output_0";

    public static ModelProto Cut(ModelProto source, string cutAt, int channels,
        string inputName = "image", string outputName = "features")
    {
        var graph = source.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var sourceInput = graph.Input.Single(i => !initializers.ContainsKey(i.Name)).Name;

        var kept = NodesNeededFor(graph, cutAt);
        var usedNames = kept.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);

        var cut = new GraphProto { Name = graph.Name + "_encoder" };
        foreach (var original in kept)
        {
            var node = original.Clone();
            Rename(node.Input, sourceInput, inputName);
            Rename(node.Input, cutAt, outputName);
            Rename(node.Output, cutAt, outputName);
            cut.Node.Add(node);
        }
        cut.Initializer.AddRange(graph.Initializer.Where(t => usedNames.Contains(t.Name)).Select(t => t.Clone()));

        // The value_info entries all pin the 224x224 geometry; ORT infers shapes
        // itself, so dropping them is what makes height and width free.
        cut.Input.Add(OnnxGraphBuilder.TensorValueInfo(inputName, TensorProto.Types.DataType.Float,
            ["batch", 3, "height", "width"]));
        cut.Output.Add(OnnxGraphBuilder.TensorValueInfo(outputName, TensorProto.Types.DataType.Float,
            ["batch", channels, "feature_height", "feature_width"]));

        var model = source.Clone();
        model.Graph = cut;
        // IR 3 requires every initializer to be listed as a graph input too, and ORT
        // treats such inputs as overridable, which stops it folding BatchNorm into Conv.
        // IR 4 lets initializers stand alone; the opset stays 8.
        model.IrVersion = Math.Max(model.IrVersion, 4);
        model.ProducerName = "SineGrpc";
        model.DocString = $"ResNet-18 cut after {cutAt}";
        return model;
    }

    /// <summary>The nodes that <paramref name="target"/> depends on, in their original (topological) order.</summary>
    private static List<NodeProto> NodesNeededFor(GraphProto graph, string target)
    {
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var output in node.Output)
                producer[output] = node;
        if (!producer.ContainsKey(target))
            throw new InvalidDataException($"no node produces '{target}'");

        var needed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<string>([target]);
        while (pending.TryPop(out var name))
        {
            if (producer.TryGetValue(name, out var node) && needed.Add(node))
                foreach (var input in node.Input)
                    pending.Push(input);
        }
        return graph.Node.Where(needed.Contains).ToList();
    }

    private static void Rename(IList<string> names, string from, string to)
    {
        for (int i = 0; i < names.Count; i++)
            if (names[i] == from)
                names[i] = to;
    }
}
