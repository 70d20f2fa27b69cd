using System.Diagnostics;

namespace SineGrpc.Server.Tests;

/// <summary>Polls for server state that settles a little after the client's call returns (a freed stream slot).</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, $"the condition did not hold within {timeout.TotalSeconds:F0} s");
            await Task.Delay(50);
        }
    }
}
