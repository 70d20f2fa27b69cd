using System.Globalization;

namespace SineGrpc.Engine.Models.Embedded;

/// <summary>
/// How the embedded model is built (bound from <c>Engine:Embedded:*</c>): which ResNet-18
/// layer and stride give the features, the input size, the label-propagation parameters
/// and the memory defaults written into its model.json. The defaults are the best
/// measured on DAVIS 2016 dev (docs/quality.md); the others are there to measure them.
/// </summary>
public sealed class EmbeddedModelOptions
{
    public const string Layer2 = "layer2";
    public const string Layer3 = "layer3";
    public const string Layer2And3 = "layer2+layer3";

    /// <summary>
    /// "layer3" (256 channels), "layer2" (128 channels, stride 8), or "layer2+layer3" (384
    /// channels at stride 8: both, each L2-normalised, layer3 upsampled x2 bilinearly).
    /// </summary>
    public string Layer { get; set; } = Layer2And3;

    /// <summary>
    /// Feature stride in input pixels: layer3 is 16 as trained, or 8 with the stride of its first
    /// block removed (4x the cells; the pretrained weights then see a finer grid). layer2 is 8.
    /// </summary>
    public int Stride { get; set; } = 8;

    /// <summary>With layer3 at stride 8: dilate its later 3x3 convolutions by 2 to keep their receptive field.</summary>
    public bool Dilate { get; set; }

    /// <summary>Frames are resized so that their longer side is this many pixels.</summary>
    public int InputSize { get; set; } = 1024;

    public int TopK { get; set; } = 10;

    public float Temperature { get; set; } = 0.2f;

    /// <summary>Matching radius in feature cells.</summary>
    public int Radius { get; set; } = 16;

    /// <summary>Tile side of the local matching, in cells (0 = automatic: half the radius from 16 cells, else the radius); it changes speed only.</summary>
    public int TileSize { get; set; }

    /// <summary>Power the propagated labels are raised to before renormalising (1 = none).</summary>
    public float Sharpen { get; set; } = 1f;

    /// <summary>Memory defaults of the model: frames kept, the prompted one included.</summary>
    public int MemoryCapacity { get; set; } = 6;

    /// <summary>Memory defaults of the model: keep the prompted frame for good.</summary>
    public bool FixFirstFrame { get; set; } = true;

    /// <summary>Memory defaults of the model: linear score decay length in frames (0 = none: keep the most confident).</summary>
    public float DecayRatio { get; set; } = 20f;

    public LabelPropagationOptions Decoder => new(TopK, Temperature, Radius, TileSize, Sharpen);

    public int FeatureChannels => Layer switch { Layer2 => 128, Layer2And3 => 384, _ => 256 };

    public void Validate()
    {
        if (Layer is not (Layer2 or Layer3 or Layer2And3))
            throw new ArgumentException($"Engine:Embedded:Layer must be '{Layer2}', '{Layer3}' or '{Layer2And3}', not '{Layer}'");
        if (Layer == Layer3 ? Stride is not (8 or 16) : Stride != 8)
            throw new ArgumentException($"Engine:Embedded:Stride must be 16 or 8 for layer3, and 8 for the others, not {Stride}");
        if (Dilate && !(Layer == Layer3 && Stride == 8))
            throw new ArgumentException("Engine:Embedded:Dilate applies to layer3 at stride 8 only");
        if (InputSize < 32 || InputSize > 4096)
            throw new ArgumentException($"Engine:Embedded:InputSize must be between 32 and 4096, not {InputSize}");
        if (MemoryCapacity < 1 || DecayRatio < 0 || float.IsNaN(DecayRatio))
            throw new ArgumentException("Engine:Embedded:MemoryCapacity must be >= 1 and DecayRatio >= 0");
        Decoder.Validate();
    }

    /// <summary>Every setting, in a fixed order: it names the build in the cache stamp.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Layer} stride {Stride}{(Dilate ? " dilated" : "")}, input {InputSize}, {Decoder}, " +
        $"memory {MemoryCapacity}{(FixFirstFrame ? " with the prompted frame fixed" : "")}, decay {DecayRatio}");
}
