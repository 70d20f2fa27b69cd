using SineGrpc.Client.Models;
using Sine.V1;

namespace SineGrpc.Client.Tests.Models;

public class ModelsFormatTests
{
    [Fact]
    public void Table_columns_line_up()
    {
        var text = TextTable.Format(["A", "LONGER"], [["wide cell", "x"], ["y", "z"]]);

        Assert.Equal(
            "A          LONGER\n" +
            "wide cell  x\n" +
            "y          z\n",
            text.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Lists_models_and_marks_the_default()
    {
        var reply = new ListModelsResponse
        {
            DefaultModel = "sine",
            Models =
            {
                new ModelInfo
                {
                    Name = "sine", Version = "1.0", MemoryKind = "tokens", InputSize = 896, PadSize = 896, FeatureStride = 14,
                    FeatureChannels = 1024, InstanceSource = "model", MaxMemoryCapacity = 32, ExecutionProvider = "CUDA",
                    License = "Apache-2.0", Description = "SINE in-context segmentation",
                    DefaultMemory = new MemoryOptions { Capacity = 6, FixFirstFrame = true, Decay = DecayType.Linear, DecayRatio = 20 },
                },
                new ModelInfo { Name = "xmem", Version = "2", MemoryKind = "dense", ExecutionProvider = "CPU", MaxPromptedFrames = 8 },
            },
            Limits = new ServerLimits
            {
                MaxConcurrentStreams = 16, MaxObjects = 64, MaxFramePixels = 8294400, MaxMaskPixels = 67108864,
                MaxMessageBytes = 67108864, MaxReferences = 16, StreamIdleTimeoutSeconds = 600,
            },
        };

        var lines = ModelsCommand.Format(reply).ReplaceLineEndings("\n").Split('\n');

        Assert.StartsWith("NAME", lines[0]);
        Assert.StartsWith("sine *", lines[1]);
        Assert.Contains("CUDA", lines[1]);
        Assert.StartsWith("xmem", lines[2]);
        Assert.Equal("* default model", lines[3]);
        Assert.Contains("sine: SINE in-context segmentation", lines);
        Assert.Contains("  default memory: 6 entries, first frame kept, linear decay over 20 frames", lines);
        Assert.Single(lines, line => line.Contains("prompted on at most"));
        Assert.Contains("  objects prompted on at most 8 different frames per stream", lines);
        Assert.Equal("limits: 16 streams, 64 objects per stream, 8294400 pixels per image, 67108864 mask pixels per frame, " +
            "67108864 bytes per message, 16 references per Segment call, idle streams end after 600 s", lines[^2]);
    }
}
