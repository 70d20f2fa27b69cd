using SineGrpc.Client.Cli;
using SineGrpc.Client.Tests.Support;
using SineGrpc.Client.Tracking;

namespace SineGrpc.Client.Tests.Tracking;

/// <summary>The track command on the real judo clip (../shared/data), against the fake server.</summary>
[Trait("Category", "SharedData")]
public sealed class JudoTrackTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Sends_each_judo_prompt_on_its_frame()
    {
        var options = new TrackOptions
        {
            Input = SharedData.Path("cutie-examples", "images", "judo"),
            PromptsFolder = SharedData.Path("cutie-examples", "masks", "judo"),
            Output = _temp.File("out"),
            Overlay = _temp.File("judo.mp4"),
            Server = new Uri("http://localhost:5000"),
        };
        var tracker = new FakeTracker();
        var stderr = new StringWriter();

        var exitCode = await new TrackCommand(options, stderr, stderrIsTerminal: false)
            .RunAsync(new FakeSegmentationClient(tracker.Handle), CancellationToken.None);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(16, tracker.Frames.Count);
        var prompted = tracker.Frames.Where(f => f.Prompts.Count > 0).Select(f => f.FrameIndex);
        Assert.Equal([0ul, 5ul, 8ul, 13ul], prompted);
        // Palette masks go as index masks, bytes unchanged (00005.png is 853 wide: the server pads it).
        Assert.All(tracker.Frames.SelectMany(f => f.Prompts), p => Assert.Equal(0u, p.ObjectId));
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(options.PromptsFolder, "00005.png")),
            tracker.Frames[5].Prompts[0].Mask.Png.ToByteArray());

        var last = DecodedPalettePng.Decode(File.ReadAllBytes(Path.Combine(options.Output, "00015.png")));
        Assert.Equal((854, 480), (last.Width, last.Height));
        Assert.Equal([0, 1, 2, 3, 4], last.Indices.Distinct().Order().ToArray());
        Assert.True(new FileInfo(options.Overlay).Length > 0);
    }
}
