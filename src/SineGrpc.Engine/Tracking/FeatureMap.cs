using SineGrpc.Engine.Imaging;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tracking;

/// <summary>The encoder's features of one frame, [C, h, w], with the geometry that produced them.</summary>
public sealed class FeatureMap(PooledArray<float> data, int channels, int height, int width, InputGeometry geometry) : IDisposable
{
    public PooledArray<float> Data { get; } = data;
    public int Channels { get; } = channels;
    public int Height { get; } = height;
    public int Width { get; } = width;
    public InputGeometry Geometry { get; } = geometry;
    public void Dispose() => Data.Dispose();
}

/// <summary>How a decoder's maps are read.</summary>
public enum MapKind
{
    /// <summary>[N, h, w] logits, one per object, read independently: mask = logit &gt; 0.</summary>
    Logits,
    /// <summary>[N + 1, h, w] soft labels, background first: each pixel takes the most probable channel.</summary>
    Labels,
}

/// <summary>A decoder's prediction for every tracked object, at the decoder's resolution.</summary>
public sealed class ObjectMaps(int[] objectIds, MapKind kind, PooledArray<float> maps, int height, int width, float[] presence) : IDisposable
{
    public static ObjectMaps Empty(MapKind kind) => new([], kind, new PooledArray<float>(0), 0, 0, []);

    /// <summary>Objects in channel order (after the background channel for <see cref="MapKind.Labels"/>).</summary>
    public int[] ObjectIds { get; } = objectIds;
    public MapKind Kind { get; } = kind;
    public PooledArray<float> Maps { get; } = maps;
    public int Channels => Kind == MapKind.Labels ? ObjectIds.Length + 1 : ObjectIds.Length;
    public int Height { get; } = height;
    public int Width { get; } = width;
    /// <summary>Per object, the model's probability that it is present at all (1 where the model has no such output).</summary>
    public float[] Presence { get; } = presence;
    /// <summary>Per object, the decoder's raw presence logits (SINE: [present, absent]); null where the model has none.</summary>
    public float[][]? IdLogits { get; init; }
    public void Dispose() => Maps.Dispose();
}
