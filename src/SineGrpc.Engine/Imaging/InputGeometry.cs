using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Imaging;

/// <summary>
/// How a source frame maps onto a model's input: resized keeping its aspect so the longer
/// side is <see cref="ModelManifest.InputSize"/>, then zero-padded at the bottom and right.
/// The shorter side is int(size / (longer / shorter)) in double arithmetic, truncated, as
/// SINE's reference evaluation computes it.
/// </summary>
/// <param name="FeatureStride">Input pixels per cell of the encoder's features.</param>
/// <param name="MaskScale">Cells of the decoder's mask outputs per feature cell, along each axis.</param>
public readonly record struct InputGeometry(
    int SourceWidth,
    int SourceHeight,
    int ResizedWidth,
    int ResizedHeight,
    int PaddedWidth,
    int PaddedHeight,
    int FeatureStride,
    int MaskScale)
{
    /// <summary>Width of the encoder's feature grid.</summary>
    public int FeatureWidth => PaddedWidth / FeatureStride;

    /// <summary>Height of the encoder's feature grid.</summary>
    public int FeatureHeight => PaddedHeight / FeatureStride;

    /// <summary>Width of the decoder's mask outputs.</summary>
    public int MaskWidth => FeatureWidth * MaskScale;

    /// <summary>Height of the decoder's mask outputs.</summary>
    public int MaskHeight => FeatureHeight * MaskScale;

    /// <summary>The geometry of a width x height frame for <paramref name="manifest"/>'s model.</summary>
    public static InputGeometry For(ModelManifest manifest, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (width <= 0 || height <= 0)
            throw new InvalidInputException($"image size {width}x{height} must be positive");

        int size = manifest.InputSize;
        int resizedWidth, resizedHeight;
        // The reference: aspect = w / h; wider than tall: (size, int(size / aspect)),
        // else (int(size * aspect), size). Kept at least 1 pixel.
        var aspect = (double)width / height;
        if (aspect > 1)
        {
            resizedWidth = size;
            resizedHeight = Math.Max(1, (int)(size / aspect));
        }
        else
        {
            resizedHeight = size;
            resizedWidth = Math.Max(1, (int)(size * aspect));
        }

        int stride = manifest.FeatureStride;
        int paddedWidth = manifest.PadSize > 0 ? manifest.PadSize : RoundUp(resizedWidth, stride);
        int paddedHeight = manifest.PadSize > 0 ? manifest.PadSize : RoundUp(resizedHeight, stride);
        return new InputGeometry(width, height, resizedWidth, resizedHeight, paddedWidth, paddedHeight, stride, manifest.MaskCellsPerFeatureCell);
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
