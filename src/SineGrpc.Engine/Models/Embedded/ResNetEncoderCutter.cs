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

    /// <summary>
    /// Turns an encoder cut after layer3 (output <paramref name="outputName"/>, stride 16) into one
    /// that outputs [layer2, layer3 upsampled to layer2's grid] at stride 8 (128 + 256 channels),
    /// each part L2-normalised over its channels and scaled by 1/sqrt(2), so that a cosine
    /// between two cells is the mean of the two layers' cosines. Edits <paramref name="model"/>
    /// in place.
    /// </summary>
    /// <remarks>
    /// Frames are padded to a multiple of 8 only, so layer2's grid may have an odd side. The
    /// file's strided 3x3 convolutions pad top/left only, which makes layer3's first block
    /// disagree with its 1x1 shortcut on odd sides; padding them on all sides gives both
    /// ceil(side / 2), and changes nothing on even sides (the extra bottom/right padding is
    /// never reached). Layer3 is then resized bilinearly (half-pixel) to exactly layer2's grid,
    /// which needs opset 13: the model moves there (BatchNormalization loses its opset-8-only
    /// <c>spatial</c> attribute, 1 here, which is the later opsets' behaviour).
    /// </remarks>
    public static void ConcatenateLayer2(ModelProto model, string outputName = "features")
    {
        var graph = model.Graph;
        const string layer3 = "layer3_output";
        foreach (var node in graph.Node)
        {
            Rename(node.Output, outputName, layer3);
            if (node.OpType == "BatchNormalization")
            {
                var spatial = node.Attribute.FirstOrDefault(a => a.Name == "spatial");
                if (spatial is not null && spatial.I != 1)
                    throw new InvalidDataException($"{node.Name}: BatchNormalization with spatial = {spatial.I} has no opset-13 equivalent");
                if (spatial is not null)
                    node.Attribute.Remove(spatial);
            }
            if (node.OpType == "Conv" && node.Input[0] == Layer2Output && Ints(node, "strides").Any(s => s != 1))
            {
                var kernel = Ints(node, "kernel_shape");
                SetInts(node, "pads", [.. kernel.Select(k => k / 2), .. kernel.Select(k => k / 2)]);
            }
        }
        model.OpsetImport.Clear();
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        model.IrVersion = 7;

        var half = MathF.Sqrt(0.5f);
        var l2 = Normalised(graph, Layer2Output, "layer2", half);

        // sizes = [N, C] of layer3 and [h, w] of layer2.
        var layer3Shape = Add(graph, "Shape", "layer3_shape", [layer3]);
        var layer2Shape = Add(graph, "Shape", "layer2_shape", [Layer2Output]);
        var first = Int64s(graph, "upsample_first", 0, 2);
        var last = Int64s(graph, "upsample_last", 2, 4);
        var zero = Int64s(graph, "upsample_axis", 0)[0];
        var batchAndChannels = Add(graph, "Slice", "layer3_nc", [layer3Shape, first[0], first[1], zero]);
        var grid = Add(graph, "Slice", "layer2_hw", [layer2Shape, last[0], last[1], zero]);
        var sizes = Add(graph, "Concat", "upsample_sizes", [batchAndChannels, grid], new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        var upsampled = Add(graph, "Resize", "layer3_upsampled", [layer3, "", "", sizes],
            new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8("linear") },
            new AttributeProto { Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8("half_pixel") });
        var l3 = Normalised(graph, upsampled, "layer3", half);

        var concat = new NodeProto { OpType = "Concat", Name = "features_concat" };
        concat.Input.AddRange([l2, l3]);
        concat.Output.Add(outputName);
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(concat);

        graph.Output.Clear();
        graph.Output.Add(OnnxGraphBuilder.TensorValueInfo(outputName, TensorProto.Types.DataType.Float,
            ["batch", 384, "feature_height", "feature_width"]));
        model.DocString = "ResNet-18 layer2 and layer3 (upsampled to layer2's grid), each L2-normalised, concatenated";
    }

    private static string Add(GraphProto graph, string op, string name, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return name;
    }

    /// <summary>Adds 1-element int64 initializers named prefix_i holding each value; returns their names.</summary>
    private static string[] Int64s(GraphProto graph, string prefix, params long[] values)
    {
        var names = new string[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var tensor = new TensorProto { Name = $"{prefix}_{i}", DataType = (int)TensorProto.Types.DataType.Int64 };
            tensor.Dims.Add(1);
            tensor.Int64Data.Add(values[i]);
            graph.Initializer.Add(tensor);
            names[i] = tensor.Name;
        }
        return names;
    }

    /// <summary>Appends x * scale / max(||x||, eps) over channels; returns its name.</summary>
    private static string Normalised(GraphProto graph, string input, string prefix, float scale)
    {
        var eps = new TensorProto { Name = prefix + "_norm_eps", DataType = (int)TensorProto.Types.DataType.Float };
        eps.FloatData.Add(1e-6f / scale);
        var factor = new TensorProto { Name = prefix + "_norm_scale", DataType = (int)TensorProto.Types.DataType.Float };
        factor.FloatData.Add(scale);
        graph.Initializer.Add(eps);
        graph.Initializer.Add(factor);

        NodeProto Node(string op, string name, params string[] inputs)
        {
            var node = new NodeProto { OpType = op, Name = prefix + "_" + name };
            node.Input.AddRange(inputs);
            node.Output.Add(prefix + "_" + name);
            graph.Node.Add(node);
            return node;
        }
        var norm = Node("ReduceL2", "norm", input);
        norm.Attribute.AddRange([Ints("axes", 1), new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 1 }]);
        var scaled = Node("Div", "scaled_norm", norm.Output[0], factor.Name);
        var clamped = Node("Max", "clamped_norm", scaled.Output[0], eps.Name);
        return Node("Div", "normalised", input, clamped.Output[0]).Output[0];
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
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
