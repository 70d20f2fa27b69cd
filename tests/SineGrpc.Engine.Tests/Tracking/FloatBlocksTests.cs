using SineGrpc.Engine.Tracking;

namespace SineGrpc.Engine.Tests.Tracking;

public class FloatBlocksTests
{
    // Every length up to past two vectors (any vector width up to 16), and the one value that
    // decides at every position: in a vector or in the scalar tail.
    [Fact]
    public void Any_positive_finds_a_single_positive_value_wherever_it_is()
    {
        for (var length = 0; length <= 40; length++)
        {
            var values = Enumerable.Repeat(-1f, length).ToArray();
            Assert.False(FloatBlocks.AnyPositive(values));
            for (var at = 0; at < length; at++)
            {
                values[at] = 0.5f;
                Assert.True(FloatBlocks.AnyPositive(values), $"length {length}, positive at {at}");
                values[at] = 0f;     // zero is not positive
                Assert.False(FloatBlocks.AnyPositive(values), $"length {length}, zero at {at}");
                values[at] = float.NaN;
                Assert.False(FloatBlocks.AnyPositive(values), $"length {length}, NaN at {at}");
                values[at] = -1f;
            }
        }
    }

    [Fact]
    public void Any_greater_finds_a_single_greater_value_wherever_it_is()
    {
        for (var length = 0; length <= 40; length++)
        {
            var values = Enumerable.Range(0, length).Select(i => (float)i).ToArray();
            var than = values.ToArray();
            Assert.False(FloatBlocks.AnyGreater(values, than));     // equal is not greater
            for (var at = 0; at < length; at++)
            {
                values[at] += 0.25f;
                Assert.True(FloatBlocks.AnyGreater(values, than), $"length {length}, greater at {at}");
                values[at] = float.NaN;
                Assert.False(FloatBlocks.AnyGreater(values, than), $"length {length}, NaN at {at}");
                values[at] = at;
            }
        }
        Assert.Throws<ArgumentException>(() => FloatBlocks.AnyGreater(new float[3], new float[2]));
    }
}
