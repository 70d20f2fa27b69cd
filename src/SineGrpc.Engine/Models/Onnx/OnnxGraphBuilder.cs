using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace SineGrpc.Engine.Models.Onnx;

/// <summary>
/// A small fluent helper for writing ONNX graphs by hand with OnnxSharp's protobuf
/// types. Every method that creates a value returns its name, so graphs read like
/// straight-line code: <c>var y = g.Node("Relu", [x]);</c>.
/// </summary>
/// <remarks>
/// Inside namespaces under <c>SineGrpc.Engine.Models</c> the name <c>Onnx</c> means
/// this namespace; refer to OnnxSharp's types with <c>using Onnx;</c> at the top of
/// the file (or <c>global::Onnx</c>).
/// </remarks>
public sealed class OnnxGraphBuilder
{
    /// <summary>Opset of the graphs we write: 17 has Resize half_pixel, TopK with a K input, ReduceSum axes as input and ReduceL2/ReduceMax axes as attribute.</summary>
    public const int DefaultOpset = 17;

    private readonly GraphProto _graph;
    private readonly int _opset;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxGraphBuilder(string graphName, int opset = DefaultOpset)
    {
        _graph = new GraphProto { Name = graphName };
        _opset = opset;
    }

    /// <summary>Declares a float32 graph input; dims are sizes or symbolic names.</summary>
    public string Input(string name, params Dim[] dims) =>
        Input(name, TensorProto.Types.DataType.Float, dims);

    public string Input(string name, TensorProto.Types.DataType type, params Dim[] dims)
    {
        Claim(name);
        _graph.Input.Add(TensorValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as a float32 graph output named <paramref name="name"/> (adding an Identity when the names differ).</summary>
    public string Output(string value, string name, params Dim[] dims) =>
        Output(value, name, TensorProto.Types.DataType.Float, dims);

    public string Output(string value, string name, TensorProto.Types.DataType type, params Dim[] dims)
    {
        if (value != name)
            Node("Identity", [value], [name]);
        _graph.Output.Add(TensorValueInfo(name, type, dims));
        return name;
    }

    /// <summary>A float32 initializer of the given shape (row-major values).</summary>
    public string FloatTensor(float[] values, long[] dims, string? name = null) =>
        AddInitializer(TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values.AsSpan()), values.Length, dims, name);

    /// <summary>An int64 initializer of the given shape (row-major values).</summary>
    public string Int64Tensor(long[] values, long[] dims, string? name = null) =>
        AddInitializer(TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), values.Length, dims, name);

    /// <summary>A float32 scalar constant.</summary>
    public string Float(float value) => FloatTensor([value], []);

    /// <summary>An int64 scalar constant.</summary>
    public string Int64(long value) => Int64Tensor([value], []);

    /// <summary>A 1-D float32 constant.</summary>
    public string Floats(params float[] values) => FloatTensor(values, [values.Length]);

    /// <summary>A 1-D int64 constant, the usual shape of axes, shapes and indices.</summary>
    public string Int64s(params long[] values) => Int64Tensor(values, [values.Length]);

    /// <summary>Adds a node with one output and returns the output's name. An empty input name means "optional input omitted".</summary>
    public string Node(string opType, string[] inputs, params AttributeProto[] attributes) =>
        Node(opType, inputs, [Fresh(opType)], attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs and returns their names.</summary>
    public string[] Node(string opType, string[] inputs, int outputCount, params AttributeProto[] attributes) =>
        Node(opType, inputs, Enumerable.Range(0, outputCount).Select(_ => Fresh(opType)).ToArray(), attributes);

    /// <summary>Adds a node whose outputs have the given names.</summary>
    public string[] Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        foreach (var output in outputs)
            Claim(output);
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>The finished model; the builder should not be used afterwards.</summary>
    public ModelProto Build(string? docString = null)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersionFor(_opset),
            ProducerName = "SineGrpc",
            Graph = _graph,
            DocString = docString ?? "",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = _opset });
        return model;
    }

    /// <summary>Builds and writes the model (OnnxSharp's <c>WriteToFile</c>).</summary>
    public void Save(string path, string? docString = null) => Build(docString).WriteToFile(path);

    public static ValueInfoProto TensorValueInfo(string name, TensorProto.Types.DataType type, IEnumerable<Dim> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
            shape.Dim.Add(dim.ToProto());
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>The IR version the ONNX release that introduced <paramref name="opset"/> wrote (ORT refuses only IR versions newer than it knows).</summary>
    private static long IrVersionFor(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };

    private string Fresh(string prefix)
    {
        string name;
        do name = $"{prefix}_{_counter++}";
        while (_names.Contains(name));
        return name;
    }

    private string Claim(string name)
    {
        if (!_names.Add(name))
            throw new ArgumentException($"ONNX value '{name}' is already defined", nameof(name));
        return name;
    }

    private string AddInitializer(TensorProto.Types.DataType type, ReadOnlySpan<byte> bytes, int count, long[] dims, string? name)
    {
        long expected = dims.Aggregate(1L, (a, b) => a * b);
        if (expected != count)
            throw new ArgumentException($"{count} values do not fill a [{string.Join(",", dims)}] tensor");
        // raw_data is little-endian by the ONNX spec, as is every machine we run on.
        var tensor = new TensorProto { Name = Claim(name ?? Fresh("const")), DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }
}

/// <summary>One dimension of a declared input or output: a fixed size or a symbolic name.</summary>
public readonly record struct Dim(long? Size, string? Symbol)
{
    public static implicit operator Dim(long size) => new(size, null);
    public static implicit operator Dim(int size) => new(size, null);
    public static implicit operator Dim(string symbol) => new(null, symbol);

    public TensorShapeProto.Types.Dimension ToProto() =>
        Size is { } size
            ? new TensorShapeProto.Types.Dimension { DimValue = size }
            : new TensorShapeProto.Types.Dimension { DimParam = Symbol ?? "" };

    public override string ToString() => Size?.ToString() ?? Symbol ?? "?";
}

/// <summary>Factories for node attributes.</summary>
public static class Attr
{
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Floats(string name, params float[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }
}
