using Google.Protobuf;
using Grpc.Core;
using Sine.V1;

namespace SineGrpc.Server.Tests;

/// <summary>TrackStart.return_state and resume_state: a stream of a token-memory model goes on elsewhere with nothing replayed.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamStateTests(ServerFixture server)
{
    private const int Frames = 10;
    private const int BreakAfter = 6;

    [Fact]
    public async Task A_stream_resumed_from_a_replys_state_answers_as_the_unbroken_stream_would()
    {
        var frames = Clip();

        var unbroken = await TrackClient.RunAsync(server.Client, [Start(), .. frames]);
        var before = await TrackClient.RunAsync(server.Client, [Start(), .. frames.Take(BreakAfter)]);
        using var resumptions = new ServiceCount(server.Services, "sine.streams.resumed");
        var resumed = await TrackClient.RunAsync(server.Client, [Start(resumeFrom: before[^1].State), .. frames.Skip(BreakAfter)]);

        Assert.Equal(Frames, unbroken.Count);
        Assert.Equal(Frames - BreakAfter, resumed.Count);
        Assert.All(unbroken, r => Assert.Null(r.Error));
        for (var t = BreakAfter; t < Frames; t++)
        {
            var (expected, got) = (unbroken[t], resumed[t - BreakAfter]);
            Assert.Equal((ulong)t, got.FrameIndex);
            Assert.Equal(expected.Objects.Select(o => o.ObjectId), got.Objects.Select(o => o.ObjectId));
            for (var k = 0; k < expected.Objects.Count; k++)
            {
                // Bit for bit: the resumed memory is the same memory.
                Assert.Equal(expected.Objects[k].IdLogits, got.Objects[k].IdLogits);
                Assert.Equal(expected.Objects[k].Score, got.Objects[k].Score);
                Assert.Equal(expected.Objects[k].Mask, got.Objects[k].Mask);
            }
            Assert.Equal(expected.State, got.State);
        }

        // The state is the memory and nothing more: object 2 joined on frame 3, each object holds
        // at most the default 6 entries (its prompt and its 5 best predictions), a few KB in all.
        var state = StreamState.Parser.ParseFrom(unbroken[^1].State);
        Assert.Equal((ulong)Frames, state.FramesProcessed);
        Assert.Equal([1u, 2u], state.Objects.Select(o => o.ObjectId));
        Assert.All(state.Objects, o => Assert.Equal(5, o.Recent.Count));
        Assert.Equal([0ul, 3ul], state.Objects.Select(o => o.Anchor.Frame));
        Assert.All(state.Objects.SelectMany(o => o.Recent.Prepend(o.Anchor)), e => Assert.Equal((int)state.Channels, e.Sum.Count));
        Assert.InRange(unbroken[^1].State.Length, 1, 2 * 6 * ((int)state.Channels * 4 + 32) + 128);

        // Operators see resumptions (after a rollout, say) in sine_streams_resumed_total.
        Assert.Equal(1, resumptions.Value);
    }

    [Fact]
    public async Task The_dense_model_has_no_stream_state()
    {
        var start = Start();
        start.Start.Model = "";   // the embedded default model
        var frames = Clip().Take(1);

        var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [start, .. frames]));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("model resnet18-lp has dense memory, which has no stream state (return_state, resume_state): only models with token memory (SINE) do", error.Status.Detail);
    }

    [Theory]
    [InlineData("garbage", "resume_state is not a stream state (it does not parse): send a reply's `state` back as it came")]
    [InlineData("other model", "the state comes from a stream on model elsewhere version 1; this stream is on " + ServerFixture.TokenModel + " version 1")]
    [InlineData("layout version", "resume_state has layout version 7; this server reads version 1")]
    [InlineData("not finite", "the state's object 1: an entry holds a value no memory can (area NaN, score 1, or a sum that is not finite)")]
    [InlineData("future frame", "the state's object 1: an entry of frame 99, but the stream had processed 3 frames")]
    [InlineData("too many entries", "the state's object 1 has 6 predicted entries; its policy holds 1 to 5")]
    [InlineData("memory options too", "resume_state carries the stream's memory policy: leave `memory` unset")]
    public async Task A_state_the_server_cannot_take_ends_the_stream_with_invalid_argument(string damage, string message)
    {
        var frames = Clip();
        var replies = await TrackClient.RunAsync(server.Client, [Start(), .. frames.Take(3)]);
        var state = StreamState.Parser.ParseFrom(replies[^1].State);
        var start = Start(resumeFrom: replies[^1].State);
        switch (damage)
        {
            case "garbage": start.Start.ResumeState = ByteString.CopyFromUtf8("\xff not a protobuf"); break;
            case "other model": state.Model = "elsewhere"; break;
            case "layout version": state.Version = 7; break;
            case "not finite": state.Objects[0].Anchor.Area = float.NaN; break;
            case "future frame": state.Objects[0].Recent[0].Frame = 99; break;
            case "too many entries": state.Objects[0].Recent.AddRange(Enumerable.Repeat(state.Objects[0].Recent[0], 6 - state.Objects[0].Recent.Count)); break;
            case "memory options too": start.Start.Memory = new MemoryOptions { Capacity = 6 }; break;
        }
        if (damage is not ("garbage" or "memory options too"))
            start.Start.ResumeState = state.ToByteString();

        var error = await Assert.ThrowsAsync<RpcException>(() => TrackClient.RunAsync(server.Client, [start, .. frames.Skip(3)]));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(message, error.Status.Detail);
    }

    private static TrackRequest Start(ByteString? resumeFrom = null) => new()
    {
        Start = new TrackStart
        {
            Model = ServerFixture.TokenModel,
            ReturnState = true,
            ResumeState = resumeFrom ?? ByteString.Empty,
            Output = new OutputOptions { IncludeLogits = true },
        },
    };

    /// <summary>The synthetic clip with object 1 prompted on frame 0 and object 2 (the same one, a second id) on frame 3.</summary>
    private static List<TrackRequest> Clip()
    {
        using var video = new SyntheticVideo();
        var (frames, truths) = TrackClient.PromptedClip(video, Frames);
        frames[3].Frame.Prompts.Add(TrackClient.TruthPrompt(truths[3], 1));
        frames[3].Frame.Prompts[0].ObjectId = 2;
        return frames;
    }
}
