using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace SineGrpc.Deploy.Tests.Support;

/// <summary>
/// One Kubernetes object as YamlDotNet reads it untyped: mappings are dictionaries,
/// sequences lists and every scalar a string (so 5000 and "5000" read the same).
/// </summary>
internal sealed class Manifest(IDictionary<object, object?> root, string source)
{
    public IDictionary<object, object?> Root { get; } = root;

    /// <summary>Where it came from (file or render), for messages.</summary>
    public string Source { get; } = source;

    public string Kind => Yaml.Str(Root, "kind");

    public string Name => Yaml.Str(Root, "metadata", "name");

    public string ApiVersion => Yaml.Str(Root, "apiVersion");

    public IDictionary<object, object?> Labels => Yaml.MapOrEmpty(Root, "metadata", "labels");

    public object? At(params object[] path) => Yaml.At(Root, path);

    public override string ToString() => $"{Kind}/{Name} ({Source})";
}

internal static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();

    /// <summary>Every non-empty document of a multi-document YAML stream.</summary>
    public static List<Manifest> ParseAll(string text, string source)
    {
        var manifests = new List<Manifest>();
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            var document = Deserializer.Deserialize<object?>(parser);
            if (document is IDictionary<object, object?> map)
                manifests.Add(new Manifest(map, source));
            else if (document is not null)
                throw new InvalidDataException($"{source}: a document that is not a mapping");
        }
        return manifests;
    }

    /// <summary>The node at a path of mapping keys (strings) and list indices (ints); null when absent.</summary>
    public static object? At(object? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (step, node) switch
            {
                (string key, IDictionary<object, object?> map) => map.TryGetValue(key, out var value) ? value : null,
                (int index, IList<object?> list) => index < list.Count ? list[index] : null,
                _ => null,
            };
            if (node is null)
                return null;
        }
        return node;
    }

    public static string Str(object? node, params object[] path) =>
        At(node, path) as string ?? throw new KeyNotFoundException($"no string at {string.Join('.', path)}");

    public static int Int(object? node, params object[] path) =>
        int.Parse(Str(node, path), CultureInfo.InvariantCulture);

    public static IDictionary<object, object?> Map(object? node, params object[] path) =>
        At(node, path) as IDictionary<object, object?> ?? throw new KeyNotFoundException($"no mapping at {string.Join('.', path)}");

    public static IDictionary<object, object?> MapOrEmpty(object? node, params object[] path) =>
        At(node, path) as IDictionary<object, object?> ?? new Dictionary<object, object?>();

    public static IList<object?> List(object? node, params object[] path) =>
        At(node, path) as IList<object?> ?? throw new KeyNotFoundException($"no list at {string.Join('.', path)}");

    public static IList<object?> ListOrEmpty(object? node, params object[] path) =>
        At(node, path) as IList<object?> ?? [];

    /// <summary>The list item whose "name" is <paramref name="name"/>.</summary>
    public static IDictionary<object, object?> Named(object? list, string name) =>
        (list as IList<object?> ?? []).OfType<IDictionary<object, object?>>()
            .SingleOrDefault(item => item.TryGetValue("name", out var n) && n as string == name)
        ?? throw new KeyNotFoundException($"no item named {name}");

    /// <summary>A canonical text of a node (mapping keys sorted), for equality checks with readable failures.</summary>
    public static string Canon(object? node)
    {
        var text = new StringBuilder();
        Write(node, text, 0);
        return text.ToString();
    }

    /// <summary>A copy of a mapping without some keys.</summary>
    public static Dictionary<object, object?> Without(IDictionary<object, object?> map, params string[] keys) =>
        map.Where(pair => !keys.Contains(pair.Key as string)).ToDictionary(pair => pair.Key, pair => pair.Value);

    private static void Write(object? node, StringBuilder text, int indent)
    {
        var pad = new string(' ', indent);
        switch (node)
        {
            case IDictionary<object, object?> map:
                foreach (var pair in map.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal))
                {
                    text.Append(pad).Append(pair.Key).Append(':').Append('\n');
                    Write(pair.Value, text, indent + 2);
                }
                break;
            case IList<object?> list:
                foreach (var item in list)
                {
                    text.Append(pad).Append("-\n");
                    Write(item, text, indent + 2);
                }
                break;
            case null:
                text.Append(pad).Append("~\n");
                break;
            default:
                text.Append(pad).Append('"').Append(node).Append("\"\n");
                break;
        }
    }
}
