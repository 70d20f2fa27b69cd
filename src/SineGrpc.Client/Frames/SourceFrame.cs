using OpenCvSharp;

namespace SineGrpc.Client.Frames;

/// <summary>The format of a frame's file on disk, when it came from one.</summary>
internal enum FileFormat
{
    None,
    Jpeg,
    Png,
    WebP,
}

/// <summary>
/// One input frame: its name and its pixels, plus its file bytes when it came from a file, so that it
/// can be sent without re-encoding. Pixels are decoded only when something asks for them.
/// </summary>
internal sealed class SourceFrame : IDisposable
{
    private Mat? _image;

    private SourceFrame(string name, Mat? image, byte[]? fileBytes, FileFormat fileFormat)
    {
        Name = name;
        _image = image;
        FileBytes = fileBytes;
        FileFormat = fileFormat;
    }

    public string Name { get; }

    /// <summary>The file's bytes, or null for a frame from a video.</summary>
    public byte[]? FileBytes { get; }

    public FileFormat FileFormat { get; }

    /// <summary>The frame as 8-bit BGR pixels.</summary>
    public Mat Image => _image ??= Decode();

    public static SourceFrame FromPixels(string name, Mat image) => new(name, image, null, FileFormat.None);

    public static SourceFrame FromFile(string name, byte[] bytes, FileFormat format) => new(name, null, bytes, format);

    /// <summary>Hands the pixels over to the caller, who then disposes them.</summary>
    public Mat TakeImage()
    {
        var image = Image;
        _image = null;
        return image;
    }

    public void Dispose()
    {
        _image?.Dispose();
        _image = null;
    }

    private Mat Decode()
    {
        var image = Cv2.ImDecode(FileBytes!, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new InvalidDataException($"frame {Name} could not be decoded");
        }
        return image;
    }
}
