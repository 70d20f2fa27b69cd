using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tests.TestModels;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class OnnxComponentTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sine-component-").FullName;

    [Fact]
    public async Task A_held_lease_makes_other_runs_wait_and_its_runs_are_counted()
    {
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var options = new EngineOptions { Device = "cpu", OnnxRuntime = { MaxConcurrentRunsPerSession = 1 } };
        var factory = new SessionFactory(Options.Create(options), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", model);   // one session, one run at a time

        using var image = encoder.InputMemory.Rent(3 * 16 * 16);
        image.Span.Fill(1f);
        Task other;
        using (var lease = encoder.Lease())
        {
            using (var input = image.AsOrtValue(1, 3, 16, 16))
            using (lease.Run(["image"], [input], ["features"])) { }

            other = Task.Run(() =>
            {
                using var input = image.AsOrtValue(1, 3, 16, 16);
                using var outputs = encoder.Run(["image"], [input], ["features"]);
            });
            await Task.Delay(300);
            Assert.False(other.IsCompleted, "a run went ahead while the only session was leased");
        }
        Assert.Same(other, await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(10))));
        await other;
        Assert.Equal(2, encoder.Runs);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
