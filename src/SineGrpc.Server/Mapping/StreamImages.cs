using OpenCvSharp;
using Sine.V1;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// The images of one Track stream's frames. Raw pixels are copied into one Mat that the
/// stream reuses, reallocated only when the frame size changes: a stream answers a frame
/// before it reads the next, so one is enough, and a raw stream then allocates no image
/// per frame (a 4K frame is 25 MB). Encoded images get a Mat of their own from the codec.
/// Not thread-safe: one per stream.
/// </summary>
internal sealed class StreamImages : IDisposable
{
    private readonly Mat _raw = new();

    /// <summary>The frame's pixels; dispose the result when the frame is done (it frees only what is not reused).</summary>
    public FrameImage Read(Image? image, string what, long maxPixels)
    {
        var mat = ImageReader.Read(image, what, maxPixels, _raw);
        return new FrameImage(mat, owned: !ReferenceEquals(mat, _raw));
    }

    public void Dispose() => _raw.Dispose();
}

/// <summary>A frame's BGR pixels, freed on dispose unless they are the stream's reused buffer.</summary>
internal readonly struct FrameImage(Mat mat, bool owned) : IDisposable
{
    public Mat Mat { get; } = mat;

    public void Dispose()
    {
        if (owned)
            Mat.Dispose();
    }
}
