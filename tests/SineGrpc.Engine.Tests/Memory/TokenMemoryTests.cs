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

    private static float[] Tokens(TokenMemory memory)
    {
        var tokens = new float[memory.ObjectCount * memory.Channels];
        memory.WriteTokens(tokens);
        return tokens;
    }
}
