using SineGrpc.Client.Cli;
using SineGrpc.Client.Frames;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Frames;

public sealed class FrameFolderTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Lists_images_by_ordinal_file_name()
    {
        foreach (var name in new[] { "00010.jpg", "00002.png", "00001.JPEG", "b.webp", "B.jpg", "notes.txt", ".hidden.jpg", "mask.bmp" })
        {
            _temp.Touch(name);
        }
        Directory.CreateDirectory(_temp.File("sub.jpg"));

        var names = FrameFolder.ListFrames(_temp.Path).Select(Path.GetFileName);

        // Ordinal: digits before capitals before lower case; only the four image extensions.
        Assert.Equal(["00001.JPEG", "00002.png", "00010.jpg", "B.jpg", "b.webp"], names);
    }

    [Fact]
    public void Frame_names_are_file_stems()
    {
        Assert.Equal("00005", FrameFolder.FrameName("/data/judo/00005.jpg"));
        Assert.Equal("frame.001", FrameFolder.FrameName("/data/frame.001.png"));
    }

    [Fact]
    public void Empty_folder_is_an_error()
    {
        _temp.Touch("readme.txt");

        var ex = Assert.Throws<CliException>(() => FrameFolder.ListFrames(_temp.Path));
        Assert.Contains("no frames", ex.Message);
    }

    [Fact]
    public void Two_frames_with_one_name_are_an_error()
    {
        _temp.Touch("00001.jpg");
        _temp.Touch("00001.png");

        var ex = Assert.Throws<CliException>(() => FrameFolder.ListFrames(_temp.Path));
        Assert.Contains("same name", ex.Message);
    }

    [Fact]
    public void Folder_source_stops_at_max_frames()
    {
        for (var i = 0; i < 5; i++)
        {
            _temp.Touch($"{i:D5}.jpg", [1, 2, 3]);
        }

        using var source = new FolderFrameSource(_temp.Path, maxFrames: 3);
        var frames = source.ReadFrames().ToList();

        Assert.Equal(3, source.FrameCount);
        Assert.Equal(["00000", "00001", "00002"], frames.Select(f => f.Name));
        Assert.All(frames, f => Assert.Equal(FileFormat.Jpeg, f.FileFormat));
    }
}
