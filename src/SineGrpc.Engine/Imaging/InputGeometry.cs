using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Imaging;

/// <summary>
/// How a source frame maps onto a model's input: resized keeping its aspect so the longer
/// side is <see cref="ModelManifest.InputSize"/>, then zero-padded at the bottom and right.
/// </summary>
/// <param name="FeatureStride">Input pixels per cell of the encoder's features.</param>
/// <param name="MaskStride">Input pixels per cell of the decoder's mask outputs.</param>
public readonly record struct InputGeometry(
    int SourceWidth,
    int SourceHeight,
    int ResizedWidth,
    int ResizedHeight,
    int PaddedWidth,
    int PaddedHeight,
    int FeatureStride,
    int MaskStride)
{
    /// <summary>Width of the encoder's feature grid.</summary>
    public int FeatureWidth => PaddedWidth / FeatureStride;

    /// <summary>Height of the encoder's feature grid.</summary>
    public int FeatureHeight => PaddedHeight / FeatureStride;

    /// <summary>Width of the decoder's mask outputs (padded width / mask stride, rounded down).</summary>
    public int MaskWidth => PaddedWidth / MaskStride;

    /// <summary>Height of the decoder's mask outputs (padded height / mask stride, rounded down).</summary>
    public int MaskHeight => PaddedHeight / MaskStride;

    /// <summary>The geometry of a width x height frame for <paramref name="manifest"/>'s model.</summary>
    public static InputGeometry For(ModelManifest manifest, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (width <= 0 || height <= 0)
            throw new InvalidInputException($"image size {width}x{height} must be positive");

        int size = manifest.InputSize;
        int resizedWidth, resizedHeight;
        if (width >= height)
        {
            resizedWidth = size;
            resizedHeight = ScaleRounded(height, size, width);
        }
        else
        {
            resizedHeight = size;
            resizedWidth = ScaleRounded(width, size, height);
        }

        int stride = manifest.FeatureStride;
        int paddedWidth = manifest.PadSize > 0 ? manifest.PadSize : RoundUp(resizedWidth, stride);
        int paddedHeight = manifest.PadSize > 0 ? manifest.PadSize : RoundUp(resizedHeight, stride);
        return new InputGeometry(width, height, resizedWidth, resizedHeight, paddedWidth, paddedHeight, stride, manifest.MaskStride);
    }

    /// <summary>round(value * numerator / denominator), halves up, at least 1; exact integer arithmetic.</summary>
    private static int ScaleRounded(int value, int numerator, int denominator) =>
        (int)Math.Max(1, ((long)value * numerator * 2 + denominator) / (2L * denominator));

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
