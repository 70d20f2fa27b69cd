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

    /// <summary>
    /// Halves the stride of everything after <paramref name="stageInput"/> (a stage's input, e.g.
    /// <see cref="Layer2Output"/> for layer3): the stage's strided convolutions (the first
    /// block's 3x3 and its 1x1 shortcut) run at stride 1 with symmetric padding. With
    /// <paramref name="dilate"/>, the stage's other 3x3 convolutions are dilated by 2, so that
    /// they keep the receptive field they were trained with. Edits <paramref name="model"/> in place.
    /// </summary>
    public static void RemoveStride(ModelProto model, string stageInput, bool dilate)
    {
        var graph = model.Graph;
        var strided = graph.Node.Where(n => n.OpType == "Conv" && n.Input[0] == stageInput && Ints(n, "strides").Any(s => s != 1)).ToList();
        if (strided.Count == 0)
            throw new InvalidDataException($"no strided convolution reads '{stageInput}'");
        foreach (var conv in strided)
        {
            var kernel = Ints(conv, "kernel_shape");
            SetInts(conv, "strides", [.. kernel.Select(_ => 1L)]);
            SetInts(conv, "pads", [.. kernel.Select(k => k / 2), .. kernel.Select(k => k / 2)]);
        }
        if (!dilate)
            return;

        // The stage's other convolutions: every Conv downstream of the strided ones.
        var downstream = new HashSet<string>(strided.SelectMany(n => n.Output), StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (!node.Input.Any(downstream.Contains))
                continue;
            foreach (var output in node.Output)
                downstream.Add(output);
            if (node.OpType == "Conv" && !strided.Contains(node) && Ints(node, "kernel_shape").All(k => k == 3))
            {
                SetInts(node, "dilations", [2, 2]);
                SetInts(node, "pads", [2, 2, 2, 2]);
            }
        }
    }

    private static long[] Ints(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray() ?? [];

    private static void SetInts(NodeProto node, string name, long[] values)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is null)
        {
            attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            node.Attribute.Add(attribute);
        }
        attribute.Ints.Clear();
        attribute.Ints.AddRange(values);
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
