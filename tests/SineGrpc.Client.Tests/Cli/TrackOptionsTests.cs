using SineGrpc.Client.Cli;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Cli;

public sealed class TrackOptionsTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _frames;
    private readonly string _mask;

    public TrackOptionsTests()
    {
        _frames = Path.Combine(_temp.Path, "frames");
        Directory.CreateDirectory(_frames);
        _mask = _temp.Touch("mask.png");
    }

    public void Dispose() => _temp.Dispose();

    private TrackOptions Parse(params string[] extra) =>
        TrackOptions.FromArguments(ArgumentParser.Parse(TrackOptions.Command, ["--input", _frames, "--output", _temp.File("out"), .. extra]));

    [Fact]
    public void Defaults()
    {
        var options = Parse("--mask", _mask);

        Assert.Equal(FrameEncoding.Jpeg, options.Encoding);
        Assert.Equal(90, options.JpegQuality);
        Assert.Null(options.MaxFrames);
        Assert.Null(options.Model);
        Assert.Null(options.Overlay);
        Assert.Equal(5, options.Resumes);
        Assert.False(options.Live);
        Assert.Null(options.FramesPerSecond);
    }

    [Fact]
    public void Reads_every_option()
    {
        var options = Parse("--prompts", _temp.Path, "--overlay", _temp.File("o.mp4"), "--server", "https://gpu-box:7000",
            "--model", "sine-large", "--max-frames", "12", "--encoding", "raw", "--jpeg-quality", "75", "--resume", "0",
            "--live", "--fps", "29.97");

        Assert.Equal(_temp.Path, options.PromptsFolder);
        Assert.Equal(new Uri("https://gpu-box:7000"), options.Server);
        Assert.Equal("sine-large", options.Model);
        Assert.Equal(12, options.MaxFrames);
        Assert.Equal(FrameEncoding.Raw, options.Encoding);
        Assert.Equal(75, options.JpegQuality);
        Assert.Equal(0, options.Resumes);
        Assert.True(options.Live);
        Assert.Equal(29.97, options.FramesPerSecond);
    }

    [Theory]
    [InlineData(new string[0], "--mask <png>")]
    [InlineData(new[] { "--mask", "/no/such/mask.png" }, "--mask: no such file")]
    [InlineData(new[] { "--prompts", "/no/such/folder" }, "--prompts: no such folder")]
    [InlineData(new[] { "--mask", "MASK", "--encoding", "bmp" }, "--encoding must be jpeg, png or raw")]
    [InlineData(new[] { "--mask", "MASK", "--max-frames", "0" }, "--max-frames must be a whole number")]
    [InlineData(new[] { "--mask", "MASK", "--jpeg-quality", "101" }, "--jpeg-quality must be a whole number from 1 to 100")]
    [InlineData(new[] { "--mask", "MASK", "--resume", "-1" }, "--resume must be a whole number from 0 to 100")]
    [InlineData(new[] { "--mask", "MASK", "--fps", "0" }, "--fps must be a number above 0 and at most 1000, not '0'")]
    [InlineData(new[] { "--mask", "MASK", "--fps", "25fps" }, "--fps must be a number above 0 and at most 1000, not '25fps'")]
    [InlineData(new[] { "--mask", "MASK", "--fps", "NaN" }, "--fps must be a number above 0")]
    [InlineData(new[] { "--mask", "MASK", "--live", "yes" }, "unexpected argument 'yes'")]
    [InlineData(new[] { "--mask", "MASK", "--server", "localhost:5000" }, "--server must be an http:// or https:// address")]
    [InlineData(new[] { "--mask", "FRAMES" }, "--mask must be a PNG file, but FRAMES is a folder")]
    [InlineData(new[] { "--mask", "MASK", "--overlay", "o.gif" }, "--overlay o.gif: the overlay video must be one of .mp4 .m4v .mov .avi .mkv, not '.gif'")]
    [InlineData(new[] { "--mask", "MASK", "--overlay", "overlay" }, "the overlay video must be one of")]
    public void Rejects_bad_options(string[] extra, string message)
    {
        var argv = extra.Select(a => a == "MASK" ? _mask : a == "FRAMES" ? _frames : a).ToArray();
        message = message.Replace("FRAMES", _frames);

        var ex = Assert.Throws<UsageException>(() => Parse(argv));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Rejects_a_missing_input()
    {
        var args = ArgumentParser.Parse(TrackOptions.Command, ["--input", "/no/such/video.mp4", "--output", "o", "--mask", _mask]);

        var ex = Assert.Throws<UsageException>(() => TrackOptions.FromArguments(args));
        Assert.Contains("--input: no such file or folder", ex.Message);
    }

    [Theory]
    [InlineData("frames", "--input")]
    [InlineData("frames/", "--input")]
    [InlineData("frames/../frames/.", "--input")]
    [InlineData("prompts", "--prompts")]
    [InlineData("out/../prompts", "--prompts")]
    public void Refuses_an_output_folder_that_is_an_input_folder(string output, string option)
    {
        var prompts = Directory.CreateDirectory(_temp.File("prompts")).FullName;
        var args = ArgumentParser.Parse(TrackOptions.Command,
            ["--input", _frames, "--prompts", prompts, "--output", Path.Combine(_temp.Path, output)]);

        var ex = Assert.Throws<UsageException>(() => TrackOptions.FromArguments(args));
        Assert.Contains($"is the {option} folder", ex.Message);
    }

    [Fact]
    public void Accepts_an_output_folder_beside_or_inside_the_inputs()
    {
        var prompts = Directory.CreateDirectory(_temp.File("prompts")).FullName;
        foreach (var output in new[] { "out", "frames/masks", "prompts-out" })
        {
            var args = ArgumentParser.Parse(TrackOptions.Command,
                ["--input", _frames, "--prompts", prompts, "--output", Path.Combine(_temp.Path, output)]);
            Assert.Equal(Path.Combine(_temp.Path, output), TrackOptions.FromArguments(args).Output);
        }
    }
}
