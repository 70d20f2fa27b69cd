using System.Text.Json;
using System.Text.Json.Serialization;

namespace SineGrpc.Engine.Models;

/// <summary>
/// The contents of a bundle's <c>model.json</c>: everything the service needs to know
/// about a model to feed it and read its outputs, and nothing about how it works inside.
/// </summary>
public sealed record ModelManifest
{
    public required string Name { get; init; }
    public string Version { get; init; } = "1";
    public string Description { get; init; } = "";
    public string License { get; init; } = "";

    /// <summary>Per-stream memory kind: <see cref="MemoryKinds.Tokens"/> or <see cref="MemoryKinds.Dense"/>.</summary>
    public required string MemoryKind { get; init; }

    /// <summary>Frames are resized (bilinear, aspect kept) so their longer side is this long.</summary>
    public required int InputSize { get; init; }

    /// <summary>Square size the resized frame is zero-padded to (bottom/right); 0 = pad only to a multiple of <see cref="FeatureStride"/>.</summary>
    public int PadSize { get; init; }

    /// <summary>"rgb" or "bgr": channel order of the encoder's input.</summary>
    public string ChannelOrder { get; init; } = "rgb";

    /// <summary>Pixels (0..255) are multiplied by this before mean and std: 1/255 for [0,1] models, 1 for caffe-style ones.</summary>
    public float PixelScale { get; init; } = 1f / 255f;

    /// <summary>Per-channel mean, in the encoder's channel order, after <see cref="PixelScale"/>.</summary>
    public required float[] Mean { get; init; }

    /// <summary>Per-channel standard deviation, in the encoder's channel order, after <see cref="PixelScale"/>.</summary>
    public required float[] Std { get; init; }

    /// <summary>Channels of the encoder's <c>features</c> output.</summary>
    public required int FeatureChannels { get; init; }

    /// <summary>Input pixels per feature cell.</summary>
    public required int FeatureStride { get; init; }

    /// <summary>
    /// Cells of the decoder's mask outputs per feature cell, along each axis: SINE's masks
    /// are 4h x 4w (296 x 296 over a 74 x 74 grid: 3.5 input pixels per cell, which no
    /// integer stride can say); dense labels are at the feature grid (1). 0 = unset, then
    /// derived from <see cref="MaskStride"/>.
    /// </summary>
    public int MaskScale { get; init; }

    /// <summary>
    /// Older manifests: input pixels per mask cell, which must divide <see cref="FeatureStride"/>.
    /// 0 = unset; <see cref="MaskScale"/> is the field to write.
    /// </summary>
    public int MaskStride { get; init; }

    /// <summary>Mask cells per feature cell, from <see cref="MaskScale"/> or else <see cref="MaskStride"/>.</summary>
    [JsonIgnore]
    public int MaskCellsPerFeatureCell => MaskScale > 0 ? MaskScale : FeatureStride / MaskStride;

    /// <summary>
    /// Where Segment's instances come from: "model" (a tokens model whose decoder also
    /// outputs <c>ins_logits</c> [1,Q,N+1] and <c>ins_masks</c> [1,Q,mh,mw], read as SINE's
    /// inference reads them) or "connected-components" (of each label's mask).
    /// </summary>
    public string InstanceSource { get; init; } = "connected-components";

    public MemoryDefaults Memory { get; init; } = new();

    /// <summary>ONNX file names of the components, relative to the bundle folder.</summary>
    public ComponentFiles Files { get; init; } = new();

    public static ModelManifest Read(string path)
    {
        using var stream = File.OpenRead(path);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(stream, JsonOptions)
            ?? throw new InvalidDataException($"{path}: empty model.json");
        manifest.Validate(path);
        return manifest;
    }

    public void Write(string path) =>
        File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    private void Validate(string path)
    {
        if (MemoryKind is not (MemoryKinds.Tokens or MemoryKinds.Dense))
            throw new InvalidDataException($"{path}: memory_kind must be '{MemoryKinds.Tokens}' or '{MemoryKinds.Dense}', not '{MemoryKind}'");
        if (ChannelOrder is not ("rgb" or "bgr"))
            throw new InvalidDataException($"{path}: channel_order must be 'rgb' or 'bgr'");
        if (Mean.Length != 3 || Std.Length != 3)
            throw new InvalidDataException($"{path}: mean and std need 3 values each");
        if (InputSize <= 0 || FeatureStride <= 0 || FeatureChannels <= 0)
            throw new InvalidDataException($"{path}: input_size, feature_stride and feature_channels must be positive");
        if (MaskScale < 0 || MaskStride < 0 || (MaskScale == 0 && MaskStride == 0))
            throw new InvalidDataException($"{path}: mask_scale (mask cells per feature cell) must be set and positive");
        if (MaskScale == 0 && FeatureStride % MaskStride != 0)
            throw new InvalidDataException($"{path}: mask_stride {MaskStride} does not divide feature_stride {FeatureStride}: give mask_scale instead");
        if (MaskScale > 0 && MaskStride > 0 && MaskStride * MaskScale != FeatureStride)
            throw new InvalidDataException($"{path}: mask_scale {MaskScale} and mask_stride {MaskStride} disagree; give mask_scale only");
        if (PadSize != 0 && (PadSize < InputSize || PadSize % FeatureStride != 0))
            throw new InvalidDataException($"{path}: pad_size must be 0 or a multiple of feature_stride at least input_size");
        if (MemoryKind == MemoryKinds.Tokens && Files.Pool is null)
            throw new InvalidDataException($"{path}: a tokens model needs files.pool");
        if (InstanceSource is not (InstanceSources.Model or InstanceSources.ConnectedComponents))
            throw new InvalidDataException($"{path}: instance_source must be '{InstanceSources.Model}' or '{InstanceSources.ConnectedComponents}'");
        if (InstanceSource == InstanceSources.Model && MemoryKind != MemoryKinds.Tokens)
            throw new InvalidDataException($"{path}: instance_source 'model' needs a tokens model (its decoder's ins_logits and ins_masks)");
        if (Files.GroupedDecoder is not null && MemoryKind != MemoryKinds.Dense)
            throw new InvalidDataException($"{path}: files.grouped_decoder is for dense models");
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

public static class InstanceSources
{
    public const string Model = "model";
    public const string ConnectedComponents = "connected-components";
}

/// <summary>The inputs of a dense model's decoders (DESIGN.md §3), and of its optional grouped decoder.</summary>
public static class DenseDecoderInputs
{
    public const string Features = "features";
    public const string MemoryFeatures = "memory_features";
    public const string MemoryLabels = "memory_labels";

    /// <summary>Grouped decoder only: [G, M], G >= 1, 1 where further group g of objects reads memory frame m; the output is then [1+G, L, h, w].</summary>
    public const string MemoryVisible = "memory_visible";

    /// <summary>What the service feeds the decoder, in this order (and checks at load).</summary>
    internal static readonly string[] Plain = [Features, MemoryFeatures, MemoryLabels];

    /// <summary>What the service feeds the grouped decoder, in this order (and checks at load).</summary>
    internal static readonly string[] Grouped = [.. Plain, MemoryVisible];
}

public static class MemoryKinds
{
    public const string Tokens = "tokens";
    public const string Dense = "dense";
}

/// <summary>The memory policy a model is evaluated with; streams may override it.</summary>
public sealed record MemoryDefaults
{
    public int Capacity { get; init; } = 6;
    public bool FixFirstFrame { get; init; } = true;
    public float DecayRatio { get; init; } = 20f;
}

public sealed record ComponentFiles
{
    public string Encoder { get; init; } = "encoder.onnx";
    public string Decoder { get; init; } = "decoder.onnx";
    /// <summary>Tokens models only: the mask-pooling graph.</summary>
    public string? Pool { get; init; }

    /// <summary>
    /// Dense models, optional: the decoder with <see cref="DenseDecoderInputs.MemoryVisible"/>,
    /// which answers objects that joined on different frames in one run. Without it they are
    /// decoded one <see cref="Decoder"/> run per frame they joined on.
    /// </summary>
    public string? GroupedDecoder { get; init; }
}
