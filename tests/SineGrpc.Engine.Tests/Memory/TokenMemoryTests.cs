using SineGrpc.Engine.Memory;

namespace SineGrpc.Engine.Tests.Memory;

public sealed class TokenMemoryTests
{
    [Fact]
    public void Token_is_pooled_sums_over_pooled_areas()
    {
        var memory = new TokenMemory(2, MemoryPolicy.Default);
        memory.Anchor(1, [2f, 4f], 2f, 0);
        Assert.Equal([1f, 2f], Tokens(memory));

        // (2 + 6, 4 + 0) / (2 + 2)
        memory.Remember(1, [6f, 0f], 2f, 0.5f, 1);
        Assert.Equal([2f, 1f], Tokens(memory));

        // Re-anchoring replaces the fixed entry only: (0 + 6, 10 + 0) / (5 + 2)
        memory.Anchor(1, [0f, 10f], 5f, 2);
        var token = Tokens(memory);
        Assert.Equal(6f / 7f, token[0], 5);
        Assert.Equal(10f / 7f, token[1], 5);
        Assert.Equal([2, 1], memory.FramesOf(1));
    }

    [Fact]
    public void Objects_are_ordered_by_id_and_each_keeps_its_own_entries()
    {
        var memory = new TokenMemory(1, MemoryPolicy.Default with { Capacity = 3 });
        memory.Anchor(7, [7f], 1f, 0);
        memory.Anchor(3, [3f], 1f, 0);
        for (var f = 1; f <= 4; f++)
        {
            memory.Remember(3, [3f], 1f, 0.9f, f);
            memory.Remember(7, [7f], 1f, 0.9f, f);
        }
        Assert.Equal([3, 7], memory.ObjectIds);
        Assert.Equal([3f, 7f], Tokens(memory));
        Assert.Equal(3, memory.EntryCount(3));     // anchor + 2 recent
        Assert.Equal([0, 3, 4], memory.FramesOf(7));
        Assert.True(memory.Remove(3));
        Assert.Equal([7], memory.ObjectIds);
    }

    [Fact]
    public void An_empty_memory_gives_a_zero_token_not_nan()
    {
        var memory = new TokenMemory(2, MemoryPolicy.Default);
        memory.Anchor(1, [0f, 0f], 0f, 0);
        Assert.Equal([0f, 0f], Tokens(memory));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_restored_memory_gives_the_same_tokens_and_evicts_the_same_entries(bool fixFirstFrame)
    {
        var policy = new MemoryPolicy(Capacity: 3, FixFirstFrame: fixFirstFrame, DecayRatio: 4f);
        var memory = new TokenMemory(2, policy);
        memory.Anchor(5, [0.1f, 0.7f], 3f, 0);
        memory.Anchor(2, [1.3f, 0.2f], 2f, 1);
        float[] scores = [0.9f, 0.4f, 0.8f, 0.6f];
        for (var f = 1; f <= scores.Length; f++)
        {
            memory.Remember(5, [0.3f * f, 0.1f], 1.5f, scores[f - 1], f);
            memory.Remember(2, [0.2f, 0.5f * f], 2.5f, scores[^f], f);
        }

        var restored = TokenMemory.Restore(memory.Capture(), channels: 2, framesProcessed: 5, maxCapacity: 16);

        Assert.Equal(Tokens(memory), Tokens(restored));
        Assert.Equal(policy, restored.Policy);
        foreach (var m in new[] { memory, restored })
        {
            m.Remember(5, [1f, 1f], 1f, 0.5f, 5);
            m.Remember(2, [1f, 1f], 1f, 0.5f, 5);
        }
        Assert.Equal(memory.FramesOf(5), restored.FramesOf(5));
        Assert.Equal(memory.FramesOf(2), restored.FramesOf(2));
        Assert.Equal(Tokens(memory), Tokens(restored));
    }

    [Fact]
    public void A_state_of_other_channels_or_capacity_is_refused()
    {
        var memory = new TokenMemory(2, MemoryPolicy.Default with { Capacity = 8 });
        memory.Anchor(1, [1f, 1f], 1f, 0);
        var state = memory.Capture();

        Assert.Equal("the state's memory has 2 channels; the model's tokens have 3",
            Assert.Throws<InvalidInputException>(() => TokenMemory.Restore(state, 3, 1, 16)).Message);
        Assert.Equal("memory capacity must be between 1 and 6, not 8",
            Assert.Throws<InvalidInputException>(() => TokenMemory.Restore(state, 2, 1, 6)).Message);
    }

    private static float[] Tokens(TokenMemory memory)
    {
        var tokens = new float[memory.ObjectCount * memory.Channels];
        memory.WriteTokens(tokens);
        return tokens;
    }
}
